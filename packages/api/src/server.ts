import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TRPCError } from "@trpc/server";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { ProgressLicenseCoupler, createDatabase, createLogger, redactUrl, type CombiningOptions, type Logger } from "@coupler/core";
import { createAuthenticator, secretKey } from "./auth.ts";
import { startBackgroundJobs } from "./backgroundJobs.ts";
import { createContext, type Services } from "./context.ts";
import { parseApiConfig, serverSettings } from "./config.ts";
import { applyHttpLimits, httpServerOptions, setSecurityHeaders, type HttpLimits } from "./httpLimits.ts";
import { createMetricsEndpoint } from "./metricsEndpoint.ts";
import { createLeanHandler } from "./http/leanHandler.ts";
import { createRequestLabeler } from "./http/requestLabel.ts";
import { ApiMetrics } from "./metrics.ts";
import { REST_BASE } from "./openapi/openApiDocument.ts";
import { createOpenApiRoutes } from "./openapi/openApiRoutes.ts";
import { appRouter } from "./root.ts";

/** The server's tunables, as `serverSettings(config)` derives them from the configuration. */
export interface ServerSettings extends HttpLimits {
  /** 0 picks a free port. */
  port: number;
  host: string;
  poolSize: number;
  lockTimeoutMs: number;
  maxRetries: number;
  /** Serve `bench.*` (the legacy write path). */
  benchMode: boolean;
  /** How often the integrity check refreshes the desync and orphan gauges; 0 = only at start. */
  integrityIntervalMs: number;
  maxBatchSize: number;
  maxBodyBytes: number;
  /** How long `close()` waits for in-flight requests before cutting connections. */
  shutdownTimeoutMs: number;
  /** Level of the logger the server creates when given none. */
  logLevel: string;
  /** When set, /metrics answers only `Authorization: Bearer <metricsToken>`. */
  metricsToken: string | undefined;
  /** When set, /metrics is served on a listener of its own at this port (0 = any free port), and the main port answers it with 404. */
  metricsPort: number | undefined;
  /** The metrics listener's address; the main `host` when unset. */
  metricsHost: string | undefined;
  /** The longest `exp − iat` a token may claim. */
  maxTokenLifetimeSeconds: number;
  /** Named prepared statements per pooled connection; off behind a transaction pooler. */
  preparedStatements: boolean;
  /** How long an idempotency key replays its first result. */
  idempotencyRetentionMs: number;
  /** How often expired idempotency keys are deleted; 0 = never. */
  idempotencyPurgeIntervalMs: number;
  /** Write combining per pair (COUPLER_WRITE_COMBINING, _MAX_BATCH, _MAX_QUEUE). */
  combining: Required<CombiningOptions>;
}

/**
 * Resolved configuration: the server reads no environment. A setting left out
 * takes the default an unset environment variable has (see config.ts).
 */
export interface ServerOptions extends Partial<ServerSettings> {
  databaseUrl: string;
  authSecret: string;
  logger?: Logger;
  /** The /metrics body; this server's own registry when left out (a cluster worker passes the primary's aggregate of all workers). */
  metricsText?: () => Promise<string>;
  /** Serve single queries and mutations without tRPC's Fetch adapter (see http/leanHandler.ts); default true. */
  leanHttp?: boolean;
}

const DEFAULTS: ServerSettings = serverSettings(parseApiConfig({}));

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:3000 (the router is at `${url}/trpc`). */
  url: string;
  port: number;
  /** Where Prometheus scrapes, e.g. http://127.0.0.1:9464/metrics (on the main port unless `metricsPort` is set). */
  metricsUrl: string;
  metrics: ApiMetrics;
  services: Services;
  /** Stops accepting, drains in-flight requests, then closes the pool. Idempotent. */
  close(): Promise<void>;
}

const JSON_HEADERS = { "content-type": "application/json" };

/** Starts the HTTP server: tRPC at /trpc, plus /healthz, /readyz and /metrics. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? createLogger("coupler-api", options.logLevel ?? DEFAULTS.logLevel);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs;
  const integrityIntervalMs = options.integrityIntervalMs ?? DEFAULTS.integrityIntervalMs;
  const idempotencyRetentionMs = options.idempotencyRetentionMs ?? DEFAULTS.idempotencyRetentionMs;

  // createDatabase gives the pool an 'error' listener: a killed idle backend is logged, not fatal.
  const database = createDatabase({
    connectionString: options.databaseUrl,
    max: options.poolSize ?? DEFAULTS.poolSize,
    applicationName: "coupler-api",
    logger,
  });
  const metrics = new ApiMetrics();
  const coupler = new ProgressLicenseCoupler({
    pool: database.pool,
    db: database.db,
    lockTimeoutMs: options.lockTimeoutMs ?? DEFAULTS.lockTimeoutMs,
    maxRetries: options.maxRetries ?? DEFAULTS.maxRetries,
    preparedStatements: options.preparedStatements ?? DEFAULTS.preparedStatements,
    idempotencyRetentionMs,
    combining: options.combining ?? DEFAULTS.combining,
    observer: metrics,
    // Every call already gets a request log line; the coupler adds its own only for failures (or at debug).
    logger: logger.child({ component: "coupler" }, { level: logger.level === "info" ? "warn" : logger.level }),
  });
  const services: Services = {
    coupler,
    pool: database.pool,
    logger,
    benchMode: options.benchMode ?? DEFAULTS.benchMode,
    onIntegrityReport: (report) => metrics.recordIntegrity(report),
  };
  const authenticate = createAuthenticator(secretKey(options.authSecret), {
    maxTokenLifetimeSeconds: options.maxTokenLifetimeSeconds ?? DEFAULTS.maxTokenLifetimeSeconds,
  });
  const describe = createRequestLabeler(appRouter, REST_BASE);

  const contextFor = (opts: { req: IncomingMessage }) => createContext({ ...opts, services, authenticate });
  const onError = ({ error, path }: { error: TRPCError; path: string | undefined }) => {
    if (error.code === "INTERNAL_SERVER_ERROR") logger.error({ err: error.cause ?? error, path }, "procedure failed");
  };

  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: "/trpc/",
    maxBatchSize: options.maxBatchSize ?? DEFAULTS.maxBatchSize,
    maxBodySize: maxBodyBytes,
    createContext: contextFor,
    onError,
  });
  const lean = (options.leanHttp ?? true)
    ? createLeanHandler({ router: appRouter, maxBodySize: maxBodyBytes, createContext: contextFor, onError, tooLarge: (res) => tooLarge(res, maxBodyBytes) })
    : undefined;

  const openApi = createOpenApiRoutes({
    router: appRouter,
    maxBodySize: maxBodyBytes,
    createContext: contextFor,
    onError,
    tooLarge: (res) => tooLarge(res, maxBodyBytes),
  });

  let inflight = 0;
  let draining = false;
  let drained: (() => void) | undefined;

  const limits: HttpLimits = {
    headersTimeoutMs: options.headersTimeoutMs ?? DEFAULTS.headersTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? DEFAULTS.keepAliveTimeoutMs,
    maxConnections: options.maxConnections ?? DEFAULTS.maxConnections,
  };
  const metricsPort = options.metricsPort ?? DEFAULTS.metricsPort;
  const serveMetrics = createMetricsEndpoint({ metrics, text: options.metricsText, token: options.metricsToken ?? DEFAULTS.metricsToken, logger });

  const server = createServer(httpServerOptions(limits), (req, res) => {
    setSecurityHeaders(res);
    const started = performance.now();
    inflight++;
    res.once("close", () => {
      inflight--;
      const seconds = (performance.now() - started) / 1000;
      const { path, label } = describe(req);
      metrics.observeRequest(label, res.statusCode, seconds);
      logger.info({ method: req.method, path, status: res.statusCode, ms: Math.round(seconds * 1e5) / 100 }, "request");
      if (draining && inflight === 0) drained?.();
    });
    if (draining) res.setHeader("connection", "close");
    route(req, res);
  });
  // Node's default keep-alive (5 s) is shorter than many load generators expect; the default here is 65 s.
  applyHttpLimits(server, limits);

  function route(req: IncomingMessage, res: ServerResponse) {
    const url = req.url ?? "/";
    // REST under /api, /openapi.json, /docs, and GET /trpc pointing at them (openapi/openApiRoutes.ts).
    if (openApi(req, res)) return;
    if (url.startsWith("/trpc/")) {
      const length = Number(req.headers["content-length"] ?? 0);
      if (length > maxBodyBytes) return tooLarge(res, maxBodyBytes);
      if (lean?.(req, res)) return;
      return trpc(req, res);
    }
    const path = url.split("?", 1)[0];
    if (path === "/healthz") return send(res, 200, { status: "ok" });
    if (path === "/readyz") return void ready(res);
    if (path === "/metrics" && metricsPort === undefined) return void serveMetrics(req, res);
    return send(res, 404, { error: "not found" });
  }

  async function ready(res: ServerResponse) {
    if (draining) return send(res, 503, { status: "shutting down" });
    try {
      await database.pool.query("select 1");
      send(res, 200, { status: "ready" });
    } catch (error) {
      logger.warn({ err: error }, "readiness check failed");
      send(res, 503, { status: "database unreachable" });
    }
  }

  const jobs = startBackgroundJobs({
    pool: database.pool,
    metrics,
    logger,
    integrityIntervalMs,
    purgeIntervalMs: options.idempotencyPurgeIntervalMs ?? DEFAULTS.idempotencyPurgeIntervalMs,
    idempotencyRetentionMs,
  });

  const host = options.host ?? DEFAULTS.host;
  const url = await listen(server, options.port ?? DEFAULTS.port, host);
  // Metrics on a port of their own: same limits and headers, nothing else served there.
  const metricsServer =
    metricsPort === undefined
      ? undefined
      : createServer(httpServerOptions(limits), (req, res) => {
          setSecurityHeaders(res);
          if ((req.url ?? "/").split("?", 1)[0] === "/metrics") return void serveMetrics(req, res);
          send(res, 404, { error: "not found" });
        });
  if (metricsServer) applyHttpLimits(metricsServer, limits);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      metricsServer?.close();
      metricsServer?.closeAllConnections();
      if (inflight > 0) {
        await new Promise<void>((resolve) => {
          drained = resolve;
          setTimeout(resolve, shutdownTimeoutMs).unref();
        });
      }
      server.closeAllConnections();
      await stopped;
      await jobs.stop();
      await database.close();
      logger.info("coupler API stopped");
    })());

  let metricsUrl = `${url}/metrics`;
  if (metricsServer) {
    try {
      metricsUrl = `${await listen(metricsServer, metricsPort ?? 0, options.metricsHost ?? DEFAULTS.metricsHost ?? host)}/metrics`;
    } catch (error) {
      await close();
      throw error;
    }
  }
  logger.info({ url, metricsUrl, database: redactUrl(options.databaseUrl), benchMode: services.benchMode }, "coupler API listening");

  return { url, port: (server.address() as AddressInfo).port, metricsUrl, metrics, services, close };
}

/** Listens on `port` at `host` and resolves with the base URL, e.g. http://127.0.0.1:3000. */
async function listen(server: Server, port: number, host: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, JSON_HEADERS).end(JSON.stringify(body));
}

/** The same error envelope tRPC uses, so clients parse it alike. */
function tooLarge(res: ServerResponse, limit: number): void {
  res.setHeader("connection", "close"); // the unread body must not be parsed as a next request
  send(res, 413, {
    error: {
      code: -32600,
      message: `request body exceeds ${limit} bytes`,
      data: { code: "PAYLOAD_TOO_LARGE", httpStatus: 413 },
    },
  });
}
