import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoupler, enrolledUser } from "@coupler/testing";
import { INSTRUCTOR_ID, startTestApi, type TestApi } from "./harness.ts";

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

function expectSecurityHeaders(res: Response): void {
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("cache-control")).toBe("no-store");
}

describe("response headers", () => {
  it("a successful tRPC call carries nosniff and no-store", async () => {
    const learner = await enrolledUser(api.database, createCoupler(api.database));
    const res = await fetch(`${api.url}/trpc/progression.levelUp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${await api.token("instructor", INSTRUCTOR_ID)}`,
      },
      body: JSON.stringify({ userId: learner, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
    });
    expect(res.status).toBe(200);
    expectSecurityHeaders(res);
  });

  it("tRPC errors (unauthorized, a batch, malformed JSON) and a body over the limit carry them too", async () => {
    const unauthorized = await fetch(
      `${api.url}/trpc/progression.get?input=${encodeURIComponent('{"userId":1,"specialization":"PLAYER"}')}`,
    );
    expect(unauthorized.status).toBe(401);
    expectSecurityHeaders(unauthorized);

    const batch = await fetch(`${api.url}/trpc/admin.guard,admin.guard?batch=1`);
    expect(batch.status).toBe(401);
    expectSecurityHeaders(batch);

    const tooLarge = await fetch(`${api.url}/trpc/progression.levelUp`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(200_000),
    });
    expect(tooLarge.status).toBe(413);
    expectSecurityHeaders(tooLarge);

    const malformed = await fetch(`${api.url}/trpc/progression.levelUp`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${await api.token("instructor", INSTRUCTOR_ID)}`,
      },
      body: "{not json",
    });
    expect(malformed.status).toBe(400);
    expectSecurityHeaders(malformed);
  });

  it("/healthz, /readyz, /metrics and a 404 carry them", async () => {
    for (const path of ["/healthz", "/readyz", "/metrics", "/no-such-path"]) {
      const res = await fetch(`${api.url}${path}`);
      expect(res.status, path).toBe(path === "/no-such-path" ? 404 : 200);
      expectSecurityHeaders(res);
    }
  });
});
