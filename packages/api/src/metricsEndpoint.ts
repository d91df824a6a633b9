import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Logger } from "@coupler/core";
import { applyHttpLimits, httpServerOptions, setSecurityHeaders, type HttpLimits } from "./httpLimits.ts";

/** What `createMetricsEndpoint` returns: answers one request for /metrics. */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * Answers GET /metrics with the Prometheus text. With a `token`, only a
 * request bearing `Authorization: Bearer <token>` is answered; anything else
 * gets 401 with `WWW-Authenticate: Bearer`, so scrapers know what to send.
 */
export function createMetricsEndpoint(options: {
  /** The exposition text: this process's registry, or the aggregate of the cluster's workers (workers.ts). A rejection answers 500. */
  text: () => Promise<string>;
  /** The Content-Type of `text`, e.g. prom-client's `Registry.PROMETHEUS_CONTENT_TYPE`. */
  contentType: string;
  token: string | undefined;
  logger: Logger;
}): MetricsHandler {
  const expected = options.token === undefined ? undefined : digest(options.token);
  return async (req, res) => {
    if (expected && !bears(req.headers.authorization, expected)) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="metrics"' });
      res.end(JSON.stringify({ error: "metrics require Authorization: Bearer <METRICS_TOKEN>" }));
      return;
    }
    try {
      const body = await options.text();
      res.writeHead(200, { "content-type": options.contentType }).end(body);
    } catch (error) {
      options.logger.error({ err: error }, "metrics collection failed");
      res
        .writeHead(500, { "content-type": "application/json" })
        .end(JSON.stringify({ error: "metrics collection failed" }));
    }
  };
}

/**
 * The listener METRICS_PORT opens: GET /metrics through `serve`, 404 for
 * anything else, with the main port's HTTP limits and security headers. Not
 * yet listening; the caller listens and closes it. Used by `startServer` in a
 * single process and by the cluster primary with workers (workers.ts).
 */
export function createMetricsServer(limits: HttpLimits, serve: MetricsHandler): Server {
  const server = createServer(httpServerOptions(limits), (req, res) => {
    setSecurityHeaders(res);
    if ((req.url ?? "/").split("?", 1)[0] === "/metrics") return void serve(req, res);
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: "not found" }));
  });
  applyHttpLimits(server, limits);
  return server;
}

/**
 * Compares digests, not the strings: timingSafeEqual needs equal lengths, and
 * comparing fixed-size hashes neither leaks the token's length nor where a
 * guess first differs.
 */
function bears(header: string | undefined, expected: Buffer): boolean {
  const match = header === undefined ? null : /^Bearer\s+(\S+)$/i.exec(header);
  const given = match?.[1];
  return given !== undefined && timingSafeEqual(digest(given), expected);
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
