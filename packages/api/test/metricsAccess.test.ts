import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "@coupler/testing/vitest";
import type { TestDatabase } from "@coupler/testing";
import { startTestApi } from "./harness.ts";

const TOKEN = "metrics-scraper-token-0123456789";

let database: TestDatabase;
beforeAll(async () => {
  database = await useTestDatabase();
});
afterAll(() => database.drop());

describe("METRICS_TOKEN", () => {
  it("answers /metrics only to the bearer of the token; anything else gets 401 with WWW-Authenticate: Bearer", async () => {
    await using api = await startTestApi({ database, metricsToken: TOKEN });
    expect(api.server.metricsUrl).toBe(`${api.url}/metrics`);

    for (const authorization of [undefined, "Bearer wrong", `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN]) {
      const res = await fetch(api.server.metricsUrl, { headers: authorization ? { authorization } : {} });
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      expect(await res.text()).not.toContain("coupler_operations_total");
    }
    const res = await fetch(api.server.metricsUrl, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("http_request_duration_seconds");
  });

  it("leaves /metrics open when unset", async () => {
    await using api = await startTestApi({ database });
    expect((await fetch(api.server.metricsUrl)).status).toBe(200);
  });
});

describe("METRICS_PORT", () => {
  it("serves /metrics on its own listener, answers /metrics on the main port with 404, and closes both on close()", async () => {
    const api = await startTestApi({ database, metricsPort: 0, metricsToken: TOKEN });
    const metricsUrl = new URL(api.server.metricsUrl);
    expect(metricsUrl.port).not.toBe(String(api.server.port));
    expect(metricsUrl.hostname).toBe("127.0.0.1");

    expect((await fetch(`${api.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    expect((await fetch(api.server.metricsUrl)).status).toBe(401);
    const scraped = await fetch(api.server.metricsUrl, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(scraped.status).toBe(200);
    expect(scraped.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await scraped.text()).toContain("coupler_operations_total");
    // Only /metrics lives there.
    expect((await fetch(`${metricsUrl.origin}/healthz`)).status).toBe(404);
    // The landing page links it there, not on the main port where it answers 404 (regression).
    const landing = await (await fetch(`${api.url}/`)).text();
    expect(landing).toContain(`href="${api.server.metricsUrl}"`);
    expect(landing).not.toContain(`href="/metrics"`);

    await api.close();
    await expect(fetch(api.server.metricsUrl)).rejects.toThrow();
    await expect(fetch(`${api.url}/healthz`)).rejects.toThrow();
  });
});
