import type { IncomingMessage } from "node:http";
import type { AnyTRPCRouter } from "@trpc/server";
import { procedureTable } from "../trpcInternals.ts";

/** Routes that are not procedures, each its own label; every path under `/docs/` (Swagger UI's assets) counts as `/docs`. */
const ROUTES = new Set(["/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/trpc"]);

/**
 * The path without the query, and a bounded label for the request metrics:
 * the procedure's name for /trpc and its REST route alike, `batch`, one of
 * the server's own routes (health, metrics, the docs and their assets, the
 * REST base `/api`), or
 * `unknown` (so arbitrary paths cannot grow the label set).
 */
export function createRequestLabeler(router: AnyTRPCRouter, restBase: string) {
  const procedures = procedureTable(router);
  const restRoutes = new Map(
    [...procedures.values()].flatMap(({ path, openapi }) =>
      openapi ? [[`${restBase}${openapi.path}`, path] as const] : [],
    ),
  );
  return (req: IncomingMessage): { path: string; label: string } => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const rest = restRoutes.get(path);
    if (rest) return { path, label: rest };
    if (path.startsWith("/trpc/") && path !== "/trpc/") {
      const name = path.slice("/trpc/".length);
      if (name.includes(",")) return { path, label: "batch" };
      return { path, label: procedures.has(name) ? name : "unknown" };
    }
    if (path.startsWith("/docs/")) return { path, label: "/docs" };
    const route = path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path;
    // The REST base itself (`GET /api`, its index) is a route, not an unknown path.
    return { path, label: ROUTES.has(route) || route === restBase ? route : "unknown" };
  };
}
