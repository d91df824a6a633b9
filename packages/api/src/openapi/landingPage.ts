import { REST_BASE } from "./openApiDocument.ts";

/**
 * What `GET /` links to, with a line each: the banner names the same.
 * `metricsUrl` is where /metrics really is: `/metrics` on this port, or the
 * METRICS_PORT listener's absolute URL (this port then answers /metrics 404).
 */
export function landingLinks(metricsUrl = "/metrics"): (readonly [string, string])[] {
  const own = metricsUrl === "/metrics";
  return [
    ["/docs", "Swagger UI: every procedure, tried from the browser with a bearer token"],
    ["/openapi.json", "the OpenAPI 3.1 document (generate a client in any language)"],
    [REST_BASE, "REST routes: POST for mutations, GET with query parameters for queries"],
    ["/trpc", "the tRPC endpoint (call /trpc/<router>.<procedure>; @coupler/client is typed for it)"],
    [
      metricsUrl,
      `Prometheus metrics (bearer METRICS_TOKEN when set)${own ? "" : "; on METRICS_PORT, not on this port"}`,
    ],
    ["/healthz", "liveness; /readyz checks the database"],
  ];
}

const escapeHtml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * `GET /`: a small page naming what this server answers (issue 17: `/` was a
 * bare 404 and nothing said where /docs was), /metrics where it really is. No
 * scripts, no styles, nothing from another origin.
 */
export const landingHtml = (metricsUrl?: string): string => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Coupler API</title></head>
<body>
<h1>Coupler API</h1>
<p>Progress and license kept in lockstep. Every call needs a bearer token: <code>pnpm start</code> prints some; mint more with
<code>pnpm --silent --filter @coupler/api token --sub &lt;user id&gt; --role student|instructor|admin</code>.</p>
<ul>
${landingLinks(metricsUrl)
  .map(([href, what]) => `<li><a href="${escapeHtml(href)}">${escapeHtml(href)}</a>: ${escapeHtml(what)}</li>`)
  .join("\n")}
</ul>
</body>
</html>
`;

/** `GET /api` (the REST base itself, not a route): where the routes are described. */
export const REST_INDEX = {
  message: `REST routes live under ${REST_BASE}/<router>/<procedure>, e.g. POST ${REST_BASE}/progression/levelUp. Their documentation:`,
  docs: "/docs",
  openapi: "/openapi.json",
  trpc: "/trpc",
} as const;
