import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TRPCError } from "@trpc/server";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import {
  ProgressLicenseCoupler,
  couplerOnCitus,
  createDatabase,
  createLogger,
  redactUrl,
  type Logger,
} from "@coupler/core";
import { createAuthenticator, secretKey } from "./auth.ts";
import { createIdentityProvider } from "./identityProvider.ts";
import { serverConnections, type ServerConnections } from "./citusRouting.ts";
import { createProbePool, probeDatabase, startBackgroundJobs } from "./backgroundJobs.ts";
import { createContext, type Services } from "./context.ts";
import { resolveServerSettings, type ServerSettings } from "./config.ts";
import { applyHttpLimits, batchSize, httpServerOptions, setSecurityHeaders } from "./httpLimits.ts";
import { createMetricsEndpoint, createMetricsServer } from "./metricsEndpoint.ts";
import { answerClientError } from "./http/answerClientError.ts";
import { createLeanHandler } from "./http/leanHandler.ts";
import { listen } from "./http/listen.ts";
import { createRequestLabeler } from "./http/requestLabel.ts";
import { ApiMetrics } from "./metrics.ts";
import { REST_BASE } from "./openapi/openApiDocument.ts";
import { createOpenApiRoutes } from "./openapi/openApiRoutes.ts";
import { appRouter } from "./root.ts";
import { serverError, type CouplerErrorShape } from "./trpc.ts";

export type { ServerSettings };

/**
 * What `startServer` takes: the server reads no environment. A setting left
 * out takes the default an unset environment variable has, resolved once by
 * config.ts (`resolveServerSettings`); executables pass `serverSettings(config)` whole.
 */
export interface ServerOptions extends Partial<ServerSettings> {
  databaseUrl: string;
  authSecret: string;
  logger?: Logger;
  /** The /metrics body; this server's own registry when left out (a cluster worker passes the primary's aggregate of all workers). */
  metricsText?: () => Promise<string>;
  /**
   * Where another process serves /metrics on `metricsPort` (a cluster worker's
   * primary, workers.ts): this server then opens no metrics listener, answers
   * /metrics on its main port with 404 as it would with its own, and reports
   * this URL as its `metricsUrl`.
   */
  externalMetricsUrl?: string;
  /** Serve single queries and mutations without tRPC's Fetch adapter (see http/leanHandler.ts); default true. */
  leanHttp?: boolean;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:3000 (the router is at `${url}/trpc`). */
  url: string;
  port: number;
  /** Where Prometheus scrapes, e.g. http://127.0.0.1:9464/metrics (on the main port unless `metricsPort` is set). */
  metricsUrl: string;
  metrics: ApiMetrics;
  services: Services;
  /** Where coupled calls get their connections: `route` says how (direct to Citus workers, through the coordinator, or one server); `source.poolFor(userId)` is a learner's pool. */
  connections: Pick<ServerConnections, "route" | "source">;
  /** Stops accepting, drains in-flight requests, then closes the pool. Idempotent. */
  close(): Promise<void>;
}

const JSON_HEADERS = { "content-type": "application/json" };
/** The status recorded for a request whose client closed the connection before it was answered (nginx's 499). */
export const CLIENT_CLOSED_REQUEST = 499;
/** The methods a procedure call may use (HEAD as GET without a body). */
const TRPC_METHODS = new Set(["GET", "HEAD", "POST"]);

/** Starts the HTTP server: tRPC at /trpc, plus /healthz, /readyz and /metrics. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const settings = resolveServerSettings(options);
  const { maxBodyBytes, idempotencyRetentionMs, metricsPort } = settings;
  const logger = options.logger ?? createLogger("coupler-api", settings.logLevel);

  // createDatabase gives the pool an 'error' listener: a killed idle backend is logged, not fatal.
  const database = createDatabase({
    connectionString: options.databaseUrl,
    max: settings.poolSize,
    applicationName: "coupler-api",
    logger,
  });
  const metrics = new ApiMetrics();
  metrics.watchPool(database.pool);
  // /readyz reports reachability on a connection of its own, not the shared pool's saturation.
  const probe = createProbePool(options.databaseUrl, logger);
  // Read once: on a Citus coordinator a combined batch's write takes the shape Citus routes to one shard.
  const citus = await couplerOnCitus(database.pool).catch((error: unknown) => {
    logger.warn(
      { err: (error as Error).message },
      "could not tell whether the database is a Citus coordinator; assuming plain PostgreSQL",
    );
    return false;
  });
  // On Citus, each learner's calls on its worker's pool (COUPLER_CITUS_ROUTE=direct) or all through the coordinator.
  const connections = await serverConnections({
    pool: database.pool,
    databaseUrl: options.databaseUrl,
    citus,
    settings: settings.citus,
    preparedStatements: settings.preparedStatements,
    observer: metrics,
    logger,
  });
  const coupler = new ProgressLicenseCoupler({
    pool: database.pool,
    connections: connections.source,
    db: database.db,
    lockTimeoutMs: settings.lockTimeoutMs,
    maxRetries: settings.maxRetries,
    preparedStatements: settings.preparedStatements,
    citus,
    idempotencyRetentionMs,
    combining: settings.combining,
    observer: metrics,
    // Every call already gets a request log line; the coupler adds its own only for failures (or at debug).
    logger: logger.child({ component: "coupler" }, { level: logger.level === "info" ? "warn" : logger.level }),
  });
  const services: Services = {
    coupler,
    pool: database.pool,
    logger,
    benchMode: settings.benchMode,
    onIntegrityReport: (report) => metrics.recordIntegrity(report),
  };
  const authenticate = createAuthenticator(secretKey(options.authSecret), {
    maxTokenLifetimeSeconds: settings.maxTokenLifetimeSeconds,
    identityProvider: settings.identityProvider && createIdentityProvider(settings.identityProvider),
  });
  const describe = createRequestLabeler(appRouter, REST_BASE);

  const contextFor = (opts: { req: IncomingMessage }) => createContext({ ...opts, services, authenticate });
  const onError = ({ error, path }: { error: TRPCError; path: string | undefined }) => {
    // tRPC's adapter, finding a body without content-length (chunked) over the limit, says only "PAYLOAD_TOO_LARGE";
    // onError runs before the error is shaped, so the message is the same as everywhere else.
    if (error.code === "PAYLOAD_TOO_LARGE") error.message = tooLargeMessage(maxBodyBytes);
    if (error.code === "INTERNAL_SERVER_ERROR") logger.error({ err: error.cause ?? error, path }, "procedure failed");
  };

  const { maxBatchSize } = settings;
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: "/trpc/",
    maxBatchSize,
    maxBodySize: maxBodyBytes,
    createContext: contextFor,
    onError,
  });
  const lean =
    (options.leanHttp ?? true)
      ? createLeanHandler({
          router: appRouter,
          maxBodySize: maxBodyBytes,
          createContext: contextFor,
          onError,
          tooLarge: (res) => tooLarge(res, maxBodyBytes),
        })
      : undefined;

  const openApi = createOpenApiRoutes({
    router: appRouter,
    benchMode: settings.benchMode,
    maxBodySize: maxBodyBytes,
    createContext: contextFor,
    onError,
    tooLarge: (res) => tooLarge(res, maxBodyBytes, "rest"),
    // The landing page links /metrics where it is: here, or at METRICS_PORT (known once that listens).
    metricsUrl: () => (metricsPort === undefined && options.externalMetricsUrl === undefined ? "/metrics" : metricsUrl),
  });

  let metricsUrl = "/metrics";
  let inflight = 0;
  let draining = false;
  let drained: (() => void) | undefined;

  const serveMetrics = createMetricsEndpoint({
    text: options.metricsText ?? (() => metrics.registry.metrics()),
    contentType: metrics.registry.contentType,
    token: settings.metricsToken,
    logger,
  });

  const server = createServer(httpServerOptions(settings), (req, res) => {
    setSecurityHeaders(res);
    const started = performance.now();
    inflight++;
    res.once("close", () => {
      inflight--;
      const seconds = (performance.now() - started) / 1000;
      const { path, label } = describe(req);
      // Closed before the answer was ended (the client went away mid-body): 499, as nginx logs it, not
      // res.statusCode, which stays at its default 200 when nothing was sent (issue 24).
      const status = res.writableEnded ? res.statusCode : CLIENT_CLOSED_REQUEST;
      metrics.observeRequest(label, status, seconds);
      logger.info({ method: req.method, path, status, ms: Math.round(seconds * 1e5) / 100 }, "request");
      if (draining && inflight === 0) drained?.();
    });
    if (draining) res.setHeader("connection", "close");
    route(req, res);
  });
  // Node's default keep-alive (5 s) is shorter than many load generators expect; the default here is 65 s.
  applyHttpLimits(server, settings);
  // A request node cannot parse (431 headers too large, 408, 400) gets the JSON error envelope, not a bare status line.
  server.on("clientError", answerClientError);

  function route(req: IncomingMessage, res: ServerResponse) {
    const url = req.url ?? "/";
    const path = url.split("?", 1)[0];
    // Procedure calls go straight to tRPC; only `GET /trpc/` (the pointer to the REST docs) is the OpenAPI routes'.
    if (path?.startsWith("/trpc/") && !(path === "/trpc/" && (req.method === "GET" || req.method === "HEAD"))) {
      // Queries are GET, mutations POST; anything else is 405 before tRPC (which answered DELETE with a 415 about content-type).
      if (!TRPC_METHODS.has(req.method ?? "")) {
        res.setHeader("allow", "GET, POST");
        return sendError(
          res,
          serverError(
            "METHOD_NOT_SUPPORTED",
            `method ${req.method} is not supported: call a query with GET, a mutation with POST`,
          ),
        );
      }
      if (batchSize(url) > maxBatchSize) {
        return sendError(
          res,
          serverError(
            "BAD_REQUEST",
            `a batch may hold at most ${maxBatchSize} calls (MAX_BATCH_SIZE); this one has ${batchSize(url)}`,
          ),
        );
      }
      // The lean path checks the body limit of what it takes (http/readBody.ts); here, that of what tRPC's adapter gets.
      if (lean?.(req, res)) return;
      if (Number(req.headers["content-length"] ?? 0) > maxBodyBytes) return tooLarge(res, maxBodyBytes);
      return trpc(req, res);
    }
    // REST under /api, /openapi.json, /docs, and GET /trpc pointing at them (openapi/openApiRoutes.ts).
    if (openApi(req, res)) return;
    if (path === "/healthz") return send(res, 200, { status: "ok" });
    if (path === "/readyz") return void ready(res);
    if (path === "/metrics" && metricsPort === undefined && options.externalMetricsUrl === undefined)
      return void serveMetrics(req, res);
    return sendError(
      res,
      serverError("NOT_FOUND", `no route ${req.method} ${path}; see / for what this server answers`),
    );
  }

  async function ready(res: ServerResponse) {
    if (draining) return send(res, 503, { status: "shutting down" });
    try {
      await probeDatabase(probe.pool); // bounded: a stopped database answers 503 within 2 s, not after the TCP timeout
      metrics.ready.set(1);
      send(res, 200, { status: "ready" });
    } catch (error) {
      metrics.ready.set(0);
      logger.warn({ err: error }, "readiness check failed");
      send(res, 503, { status: "database unreachable" });
    }
  }

  const jobs = startBackgroundJobs({
    pool: database.pool,
    probePool: probe.pool,
    metrics,
    logger,
    integrityIntervalMs: settings.integrityIntervalMs,
    purgeIntervalMs: settings.idempotencyPurgeIntervalMs,
    idempotencyRetentionMs,
  });

  const { host } = settings;
  const url = await listen(server, settings.port, host);
  // Metrics on a port of their own: same limits and headers, nothing else served there.
  const metricsServer =
    metricsPort === undefined || options.externalMetricsUrl !== undefined
      ? undefined
      : createMetricsServer(settings, serveMetrics);

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
          setTimeout(resolve, settings.shutdownTimeoutMs).unref();
        });
      }
      server.closeAllConnections();
      await stopped;
      await jobs.stop();
      await connections.close();
      await database.close();
      await probe.close();
      logger.info("coupler API stopped");
    })());

  metricsUrl = options.externalMetricsUrl ?? `${url}/metrics`;
  if (metricsServer) {
    try {
      metricsUrl = `${await listen(metricsServer, metricsPort ?? 0, settings.metricsHost ?? host)}/metrics`;
    } catch (error) {
      await close();
      throw error;
    }
  }
  logger.info(
    { url, metricsUrl, database: redactUrl(options.databaseUrl), benchMode: services.benchMode },
    "coupler API listening",
  );

  return {
    url,
    port: (server.address() as AddressInfo).port,
    metricsUrl,
    metrics,
    services,
    connections: { route: connections.route, source: connections.source },
    close,
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, JSON_HEADERS).end(JSON.stringify(body));
}

/** tRPC's error envelope (`{ error }`), or the REST body (`{ message, code, data }`). */
function sendError(res: ServerResponse, shape: CouplerErrorShape, kind: "trpc" | "rest" = "trpc"): void {
  send(
    res,
    shape.data.httpStatus,
    kind === "trpc" ? { error: shape } : { message: shape.message, code: shape.data.code, data: shape.data },
  );
}

/** A body over the limit, in the error shape of the path it was sent to. */
function tooLarge(res: ServerResponse, limit: number, kind: "trpc" | "rest" = "trpc"): void {
  res.setHeader("connection", "close"); // the unread body must not be parsed as a next request
  sendError(res, serverError("PAYLOAD_TOO_LARGE", tooLargeMessage(limit)), kind);
}

/** The one message for a body over MAX_BODY_BYTES, however it was sent. */
function tooLargeMessage(limit: number): string {
  return `request body exceeds ${limit} bytes (MAX_BODY_BYTES)`;
}
