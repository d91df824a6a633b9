import type { ServerOptions as HttpServerOptions, OutgoingMessage, Server } from "node:http";

/** How long a client may take, and how many may connect at once. */
export interface HttpLimits {
  /** The request line and headers must have arrived this long after the request's first byte. */
  headersTimeoutMs: number;
  /** The whole request (headers and body) must have arrived within this; 0 = no bound. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept open. */
  keepAliveTimeoutMs: number;
  /** Connections accepted at once; further ones are closed on arrival. 0 = unlimited. */
  maxConnections: number;
}

/**
 * node:http options for `limits`. Node enforces the header and request
 * timeouts only when it sweeps its connections (every 30 s by default), so a
 * client trickling one byte at a time could hold a socket for up to 30 s past
 * its bound; sweeping at least every second (or at half the shorter bound)
 * keeps the limits close to what they say.
 */
export function httpServerOptions(limits: HttpLimits): HttpServerOptions {
  const shortest = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs || limits.headersTimeoutMs);
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(shortest / 2))),
  };
}

/** The limits that are properties of the server rather than creation options. */
export function applyHttpLimits(server: Server, limits: HttpLimits): void {
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections > 0 ? limits.maxConnections : Infinity;
}

/**
 * Headers every response carries, whatever answers it: set before routing,
 * so tRPC's adapter, health, metrics, 404 and 413 all inherit them (writeHead
 * merges with headers already set). The API serves JSON and metrics text,
 * never content to sniff or to cache: answers depend on the caller's token.
 */
export function setSecurityHeaders(res: OutgoingMessage): void {
  res.setHeader("x-content-type-options", "nosniff");
  res.setHeader("cache-control", "no-store");
}

/**
 * How many calls a /trpc URL batches (`/trpc/a,b,c?batch=1`, as tRPC reads
 * it); 1 when it is not a batch. The server refuses more than MAX_BATCH_SIZE
 * before tRPC parses anything, with a message that states the limit.
 */
export function batchSize(url: string): number {
  const query = url.indexOf("?");
  if (query === -1 || new URLSearchParams(url.slice(query + 1)).get("batch") !== "1") return 1;
  return url.slice("/trpc/".length, query).split(",").length;
}
