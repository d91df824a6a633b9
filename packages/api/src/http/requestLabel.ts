import type { IncomingMessage } from "node:http";
import type { AnyTRPCRouter } from "@trpc/server";

/**
 * The path without the query, and a bounded label for the request metrics:
 * the procedure's name for /trpc and its REST route alike, `batch`, a health
 * path, or `unknown` (so arbitrary paths cannot grow the label set).
 */
export function createRequestLabeler(router: AnyTRPCRouter, restBase: string) {
  // `_def.procedures` is flat at run time ("progression.levelUp" → procedure), though typed as the nested record.
  const procedures = router._def.procedures as unknown as Record<string, { _def: { meta?: { openapi?: { path: string } } } }>;
  const names = new Set(Object.keys(procedures));
  const restRoutes = new Map(
    Object.entries(procedures).flatMap(([name, proc]) => {
      const route = proc._def.meta?.openapi?.path;
      return route ? [[`${restBase}${route}`, name] as const] : [];
    }),
  );
  return (req: IncomingMessage): { path: string; label: string } => {
    const path = (req.url ?? "/").split("?", 1)[0] ?? "/";
    const rest = restRoutes.get(path);
    if (rest) return { path, label: rest };
    if (path.startsWith("/trpc/")) {
      const name = path.slice("/trpc/".length);
      if (name.includes(",")) return { path, label: "batch" };
      return { path, label: names.has(name) ? name : "unknown" };
    }
    return { path, label: path === "/healthz" || path === "/readyz" || path === "/metrics" ? path : "unknown" };
  };
}
