import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { appRouter } from "../root.ts";
import { procedureTable } from "../trpcInternals.ts";
import { createRequestLabeler } from "./requestLabel.ts";

const label = (url: string) => createRequestLabeler(appRouter, "/api")({ url } as IncomingMessage).label;

describe("createRequestLabeler", () => {
  it("labels a /trpc call and its REST route with the procedure's name", () => {
    expect(label("/trpc/progression.levelUp")).toBe("progression.levelUp");
    expect(label("/api/progression/history?userId=1")).toBe("progression.history");
  });

  it("labels every procedure of the router by its own name", () => {
    for (const path of procedureTable(appRouter).keys()) expect(label(`/trpc/${path}?input=%7B%7D`)).toBe(path);
  });

  it("counts Swagger UI's assets under /docs rather than as unknown (issue 17)", () => {
    expect(label("/docs")).toBe("/docs");
    expect(label("/docs/")).toBe("/docs");
    expect(label("/docs/swagger-ui-bundle.js")).toBe("/docs");
    expect(label("/docs/favicon-32x32.png?v=1")).toBe("/docs");
  });

  it("gives the server's own routes their path as label", () => {
    for (const path of ["/", "/healthz", "/readyz", "/metrics", "/openapi.json", "/trpc", "/trpc/"])
      expect(label(path)).toBe(path === "/trpc/" ? "/trpc" : path);
    // The REST base's own index (GET /api, 200) is a route too (regression: it was counted as unknown).
    expect(label("/api")).toBe("/api");
    expect(label("/api/")).toBe("/api");
  });

  it("keeps the label set bounded: a batch is `batch`, anything else unknown", () => {
    expect(label("/trpc/progression.levelUp,progression.sync?batch=1")).toBe("batch");
    expect(label("/trpc/nope.nothing")).toBe("unknown");
    expect(label("/api/progression/nothing")).toBe("unknown");
    expect(label("/wp-admin/login.php")).toBe("unknown");
    expect(label("/healthz/extra")).toBe("unknown");
  });
});
