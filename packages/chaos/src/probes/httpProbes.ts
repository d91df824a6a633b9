import { statusProbe } from "./statusProbe.ts";
import type { Probe } from "./types.ts";

export const httpProbes: Probe[] = [
  statusProbe({
    id: "http-unknown-path",
    category: "http",
    sends: "GET /admin",
    expect: "404 NOT_FOUND (NOT_FOUND)",
    request: () => ({ path: "/admin" }),
    check: (res) =>
      res.json === undefined || !String(res.headers["content-type"]).startsWith("application/json")
        ? "the body is not JSON"
        : undefined,
  }),
  statusProbe({
    id: "http-unknown-procedure",
    category: "http",
    sends: "GET /trpc/admin.dropDatabase",
    expect: "404 NOT_FOUND (NOT_FOUND)",
    request: (t) => ({ path: "/trpc/admin.dropDatabase", token: t.token("admin", t.users.admin) }),
  }),
  statusProbe({
    id: "http-get-mutation",
    category: "http",
    sends: "GET on the mutation progression.levelUp",
    expect: "405 METHOD_NOT_SUPPORTED (METHOD_NOT_SUPPORTED)",
    request: (t) => ({
      method: "GET",
      path: "/trpc/progression.levelUp",
      token: t.token("instructor", t.users.instructor),
      input: { userId: t.users.student },
    }),
  }),
  statusProbe({
    id: "http-post-query",
    category: "http",
    sends: "POST on the query progression.get",
    expect: "405 METHOD_NOT_SUPPORTED (METHOD_NOT_SUPPORTED)",
    request: (t) => ({
      method: "POST",
      path: "/trpc/progression.get",
      token: t.token("admin", t.users.admin),
      input: { userId: t.users.student, specialization: "PLAYER" },
    }),
  }),
  statusProbe({
    id: "http-path-traversal",
    category: "http",
    sends: "GET /trpc/../../etc/passwd (raw path)",
    expect: "404 NOT_FOUND (NOT_FOUND)",
    request: () => ({ path: "/trpc/../../etc/passwd" }),
  }),
  {
    id: "http-security-headers",
    category: "http",
    sends: "(every response the other probes received through node:http)",
    expected: "all carry nosniff + no-store",
    async run(t) {
      const responses = t.responses();
      const bare = responses.filter(
        (r) => r.headers["x-content-type-options"] !== "nosniff" || r.headers["cache-control"] !== "no-store",
      );
      const first = bare[0];
      return first === undefined
        ? { actual: `all ${responses.length} carry nosniff + no-store`, pass: responses.length > 0 }
        : {
            actual: `${bare.length} of ${responses.length} lack them, e.g. ${first.status} on ${first.request.path}`,
            pass: false,
          };
    },
  },
];

export const metricsProbes: Probe[] = [
  statusProbe({
    id: "metrics-no-token",
    category: "metrics",
    sends: "GET /metrics without a token",
    expect: "401",
    request: () => ({ path: "/metrics" }),
    check: (res) =>
      String(res.headers["www-authenticate"]).startsWith("Bearer") ? undefined : "no WWW-Authenticate: Bearer",
  }),
  statusProbe({
    id: "metrics-wrong-token",
    category: "metrics",
    sends: "GET /metrics with a wrong bearer token",
    expect: "401",
    request: () => ({ path: "/metrics", token: "wrong-metrics-token-0123456789" }),
  }),
  statusProbe({
    id: "metrics-admin-jwt",
    category: "metrics",
    sends: "GET /metrics with a valid admin JWT",
    expect: "401",
    request: (t) => ({ path: "/metrics", token: t.token("admin", t.users.admin) }),
  }),
  statusProbe({
    id: "metrics-right-token",
    category: "metrics",
    sends: "GET /metrics with METRICS_TOKEN",
    expect: "200",
    request: (t) => ({ path: "/metrics", token: t.metricsToken }),
    check: (res) => (res.body.includes("http_request_duration_seconds") ? undefined : "no Prometheus text"),
  }),
  statusProbe({
    id: "metrics-token-as-api-token",
    category: "metrics",
    sends: "METRICS_TOKEN as the bearer of progression.get",
    expect: "401 UNAUTHORIZED (UNAUTHENTICATED)",
    request: (t) => ({
      method: "GET",
      path: "/trpc/progression.get",
      token: t.metricsToken,
      input: { userId: t.users.student, specialization: "PLAYER" },
    }),
  }),
];
