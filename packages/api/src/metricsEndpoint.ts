import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "@coupler/core";
import type { ApiMetrics } from "./metrics.ts";

/**
 * Answers GET /metrics with the Prometheus text. With a `token`, only a
 * request bearing `Authorization: Bearer <token>` is answered; anything else
 * gets 401 with `WWW-Authenticate: Bearer`, so scrapers know what to send.
 */
export function createMetricsEndpoint(options: {
  metrics: ApiMetrics;
  /** The body to serve instead of this process's registry (a cluster worker asks its primary for the aggregate). */
  text?: (() => Promise<string>) | undefined;
  token: string | undefined;
  logger: Logger;
}) {
  const expected = options.token === undefined ? undefined : digest(options.token);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (expected && !bears(req.headers.authorization, expected)) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="metrics"' });
      res.end(JSON.stringify({ error: "metrics require Authorization: Bearer <METRICS_TOKEN>" }));
      return;
    }
    try {
      const body = await (options.text?.() ?? options.metrics.registry.metrics());
      res.writeHead(200, { "content-type": options.metrics.registry.contentType }).end(body);
    } catch (error) {
      options.logger.error({ err: error }, "metrics collection failed");
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: "metrics collection failed" }));
    }
  };
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
