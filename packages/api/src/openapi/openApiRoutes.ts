import type { IncomingMessage, ServerResponse } from "node:http";
import { createOpenApiNodeHttpHandler, type CreateOpenApiNodeHttpHandlerOptions } from "trpc-to-openapi";
import type { AppRouter } from "../root.ts";
import { serveDocs } from "./docsPage.ts";
import { REST_BASE, openApiDocument } from "./openApiDocument.ts";

type Options = Omit<CreateOpenApiNodeHttpHandlerOptions<AppRouter, IncomingMessage, ServerResponse>, "maxBodySize"> & { maxBodyBytes: number };

/** Where a caller that opens `/trpc` without a procedure is sent. */
export const TRPC_INDEX = {
  message: "This is the tRPC endpoint: call a procedure at /trpc/<router>.<procedure>. REST routes and their documentation:",
  docs: "/docs",
  openapi: "/openapi.json",
  rest: REST_BASE,
} as const;

/**
 * REST routes under /api (the same procedures, context, auth, validation and
 * error codes as /trpc, through trpc-to-openapi's node handler), the OpenAPI
 * document at /openapi.json, Swagger UI at /docs, and a pointer to them at
 * `GET /trpc`. Returns a request handler that answers false for any other path.
 */
export function createOpenApiRoutes(options: Options): (req: IncomingMessage, res: ServerResponse) => boolean {
  const { maxBodyBytes, ...handlerOptions } = options;
  // The node handler, not createOpenApiHttpHandler: that one hands createContext a Fetch Request
  // typed as an IncomingMessage, so `req.headers.authorization` would be undefined.
  const rest = createOpenApiNodeHttpHandler<AppRouter, IncomingMessage, ServerResponse>({ ...handlerOptions, maxBodySize: maxBodyBytes });

  return (req, res) => {
    const url = req.url ?? "/";
    const path = url.split("?", 1)[0] ?? "/";
    if (path.startsWith(`${REST_BASE}/`)) {
      // The procedures' paths are relative to the mount point, as on a mounted express router.
      req.url = url.slice(REST_BASE.length);
      void rest(req, res);
      return true;
    }
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    if (path === "/openapi.json") return json(res, 200, openApiDocument());
    if (path === "/trpc" || path === "/trpc/") return json(res, 200, TRPC_INDEX);
    return serveDocs(path, res);
  };
}

function json(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  return true;
}
