import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppRouter } from "../root.ts";
import { serveDocs } from "./docsPage.ts";
import { REST_BASE, openApiDocument } from "./openApiDocument.ts";
import { REST_INDEX, landingHtml } from "./landingPage.ts";
import { createRestHandler, type RestHandlerOptions } from "./restHandler.ts";

type Options = Omit<RestHandlerOptions<AppRouter>, "base"> & {
  /** Whether `bench.*` is served, and so described in /openapi.json. */
  benchMode: boolean;
  /** Where /metrics is, for the landing page: `/metrics` (the default) or the METRICS_PORT listener's URL. */
  metricsUrl?: () => string;
};

/** Where a caller that opens `/trpc` without a procedure is sent. */
export const TRPC_INDEX = {
  message:
    "This is the tRPC endpoint: call a procedure at /trpc/<router>.<procedure>. REST routes and their documentation:",
  docs: "/docs",
  openapi: "/openapi.json",
  rest: REST_BASE,
} as const;

/**
 * REST routes under /api (the same procedures, context, auth, validation and
 * error codes as /trpc; see restHandler.ts), the OpenAPI
 * document at /openapi.json, Swagger UI at /docs, pointers to them at
 * `GET /trpc`, `GET /trpc/`, `GET /api` and `GET /api/`, and a landing page at `GET /`. Returns a request handler that answers false for any other path.
 */
export function createOpenApiRoutes(options: Options): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { metricsUrl, benchMode, ...restOptions } = options;
  const rest = createRestHandler({ ...restOptions, base: REST_BASE });

  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const read = req.method === "GET" || req.method === "HEAD";
    // `/api/` answers as `/trpc/` does: the index, not a 404 (issue 24).
    if (read && (path === REST_BASE || path === `${REST_BASE}/`)) return json(res, 200, REST_INDEX);
    if (rest(req, res)) return true;
    if (!read) return false;
    if (path === "/openapi.json") return json(res, 200, openApiDocument({ benchMode }));
    if (path === "/trpc" || path === "/trpc/") return json(res, 200, TRPC_INDEX);
    if (path === "/") {
      res
        .writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": "default-src 'none'" })
        .end(landingHtml(metricsUrl?.()));
      return true;
    }
    return serveDocs(path, res);
  };
}

function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  return true;
}
