import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { ServerResponse } from "node:http";

/**
 * The /docs page: Swagger UI from the swagger-ui-dist package, served from
 * node_modules, so the page loads nothing from another origin.
 */
const ASSETS: Record<string, string> = {
  "swagger-ui.css": "text/css; charset=utf-8",
  "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
  "favicon-32x32.png": "image/png",
};

/** Our initialiser, a file rather than an inline script so a strict CSP can allow 'self' only. */
const INIT = `window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // The default validator is an external service: never call it.
  validatorUrl: null,
});
`;

export const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Coupler API</title>
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
`;

const require = createRequire(import.meta.url);
const cache = new Map<string, Buffer>();

function asset(name: string): Buffer {
  let body = cache.get(name);
  if (!body) {
    body = readFileSync(require.resolve(`swagger-ui-dist/${name}`));
    cache.set(name, body);
  }
  return body;
}

const HEADERS = {
  "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
};

/** Answers /docs and /docs/<asset>; false when `path` is not one of them. */
export function serveDocs(path: string, res: ServerResponse): boolean {
  if (path === "/docs" || path === "/docs/") {
    res.writeHead(200, { ...HEADERS, "content-type": "text/html; charset=utf-8" }).end(DOCS_HTML);
    return true;
  }
  if (!path.startsWith("/docs/")) return false;
  const name = path.slice("/docs/".length);
  if (name === "init.js") {
    res.writeHead(200, { ...HEADERS, "content-type": "text/javascript; charset=utf-8" }).end(INIT);
    return true;
  }
  const type = ASSETS[name];
  if (!type) return false;
  res.writeHead(200, { ...HEADERS, "content-type": type, "cache-control": "public, max-age=3600" }).end(asset(name));
  return true;
}
