import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoupler, enrolledUser, snapshotTables } from "@coupler/testing";
import { post, startTestApi, type TestApi } from "./harness.ts";

const MAX_BATCH = 5;
const MAX_BODY = 4096;

let api: TestApi;
let learner: number;
let admin: string;
let instructor: string;
beforeAll(async () => {
  api = await startTestApi({ maxBatchSize: MAX_BATCH, maxBodyBytes: MAX_BODY });
  learner = await enrolledUser(api.database, createCoupler(api.database));
  admin = await api.token("admin", 1);
  instructor = await api.token("instructor", 2);
});
afterAll(() => api.close());

const levelUp = (fields: Record<string, unknown>) =>
  JSON.stringify({ userId: learner, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1, ...fields });

/** [what, path, body (raw JSON text), expected tRPC code, field named in data.issues]. */
const CASES: [string, string, () => string, string, string?][] = [
  ["XP sent as a string", "progression.levelUp", () => levelUp({ xpGained: "100" }), "BAD_REQUEST", "xpGained"],
  ["negative XP", "progression.levelUp", () => levelUp({ xpGained: -5 }), "BAD_REQUEST", "xpGained"],
  ["fractional XP", "progression.levelUp", () => levelUp({ xpGained: 1.5 }), "BAD_REQUEST", "xpGained"],
  [
    "XP above the per-call maximum",
    "progression.levelUp",
    () => levelUp({ xpGained: 1_000_001 }),
    "BAD_REQUEST",
    "xpGained",
  ],
  ["a huge XP number", "progression.levelUp", () => levelUp({ xpGained: 1e300 }), "BAD_REQUEST", "xpGained"],
  [
    "an XP number beyond double range",
    "progression.levelUp",
    () => levelUp({}).replace('"xpGained":10', '"xpGained":1e400'),
    "BAD_REQUEST",
    "xpGained",
  ],
  [
    "too many sessions",
    "progression.levelUp",
    () => levelUp({ sessionsCompleted: 5000 }),
    "BAD_REQUEST",
    "sessionsCompleted",
  ],
  [
    "an unknown specialization",
    "progression.levelUp",
    () => levelUp({ specialization: "WIZARD" }),
    "BAD_REQUEST",
    "specialization",
  ],
  [
    "a lower-case specialization",
    "progression.levelUp",
    () => levelUp({ specialization: "player" }),
    "BAD_REQUEST",
    "specialization",
  ],
  ["user id 0", "progression.levelUp", () => levelUp({ userId: 0 }), "BAD_REQUEST", "userId"],
  ["a user id beyond int4", "progression.levelUp", () => levelUp({ userId: 2 ** 31 }), "BAD_REQUEST", "userId"],
  [
    "SQL in the user id",
    "progression.levelUp",
    () => levelUp({ userId: "1; drop table users" }),
    "BAD_REQUEST",
    "userId",
  ],
  [
    "an empty idempotency key",
    "progression.levelUp",
    () => levelUp({ idempotencyKey: "" }),
    "BAD_REQUEST",
    "idempotencyKey",
  ],
  [
    "a 256-character idempotency key",
    "progression.levelUp",
    () => levelUp({ idempotencyKey: "k".repeat(256) }),
    "BAD_REQUEST",
    "idempotencyKey",
  ],
  [
    "an idempotency key with spaces",
    "progression.levelUp",
    () => levelUp({ idempotencyKey: "has some spaces" }),
    "BAD_REQUEST",
    "idempotencyKey",
  ],
  ["missing fields", "progression.levelUp", () => "{}", "BAD_REQUEST", "userId"],
  ["null as the input", "progression.levelUp", () => "null", "BAD_REQUEST"],
  ["an array as the input", "progression.levelUp", () => "[1,2,3]", "BAD_REQUEST"],
  ["a learner who does not exist", "progression.levelUp", () => levelUp({ userId: 2_000_000 }), "NOT_FOUND"],
  [
    "a learner not enrolled in the specialization",
    "progression.levelUp",
    () => levelUp({ specialization: "INTERNSHIP" }),
    "NOT_FOUND",
  ],
  [
    "a level above the specialization's maximum",
    "progression.advance",
    () => JSON.stringify({ userId: learner, specialization: "PLAYER", newLevel: 11, reason: "x" }),
    "BAD_REQUEST",
    "newLevel",
  ],
  [
    "level 0",
    "progression.advance",
    () => JSON.stringify({ userId: learner, specialization: "PLAYER", newLevel: 0, reason: "x" }),
    "BAD_REQUEST",
    "newLevel",
  ],
  [
    "an empty reason",
    "progression.advance",
    () => JSON.stringify({ userId: learner, specialization: "PLAYER", newLevel: 2, reason: "  " }),
    "BAD_REQUEST",
    "reason",
  ],
  [
    "an unknown sync source",
    "progression.sync",
    () => JSON.stringify({ userId: learner, specialization: "PLAYER", source: "both" }),
    "BAD_REQUEST",
    "source",
  ],
  [
    "an invalid email",
    "users.create",
    () => JSON.stringify({ name: "X", email: "not-an-email" }),
    "BAD_REQUEST",
    "email",
  ],
  [
    "a 3000-character name",
    "users.create",
    () => JSON.stringify({ name: "x".repeat(3000), email: "long@example.test" }),
    "BAD_REQUEST",
    "name",
  ],
  [
    "a guard switch that is not a boolean",
    "admin.setGuard",
    () => JSON.stringify({ enabled: "yes" }),
    "BAD_REQUEST",
    "enabled",
  ],
  ["malformed JSON", "progression.levelUp", () => '{"userId": 1,', "PARSE_ERROR"],
  ["a body that is not JSON at all", "progression.levelUp", () => "userId=1&xp=2", "PARSE_ERROR"],
];

describe("bad input is refused with a 4xx and writes nothing", () => {
  for (const [what, path, body, code, field] of CASES) {
    it(`refuses ${what} on ${path} with ${code}`, async () => {
      const before = await snapshotTables(api.database);
      const token = path.startsWith("progression.levelUp") ? instructor : admin;
      const { status, body: response } = await post(api.url, path, body(), token);
      expect(response.error?.data.code, response.error?.message).toBe(code);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(500);
      if (field)
        expect(response.error?.data.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: field })]));
      expect(await snapshotTables(api.database)).toEqual(before);
    });
  }

  it("refuses a taken email with CONFLICT that is not retryable", async () => {
    await post(api.url, "users.create", JSON.stringify({ name: "Dup", email: "dup@example.test" }), admin);
    const before = await snapshotTables(api.database);
    const { status, body } = await post(
      api.url,
      "users.create",
      JSON.stringify({ name: "Dup", email: "DUP@example.test" }),
      admin,
    );
    expect(status).toBe(409);
    expect(body.error?.data).toMatchObject({ code: "CONFLICT", couplerCode: "CONFLICT", retryable: false });
    expect(await snapshotTables(api.database)).toEqual(before);
  });

  it("refuses malformed JSON in a query's input parameter with PARSE_ERROR", async () => {
    const res = await fetch(`${api.url}/trpc/progression.get?input=${encodeURIComponent("{oops")}`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { data: { code: string } } }).error.data.code).toBe("PARSE_ERROR");
  });

  it("refuses a batch larger than maxBatchSize and runs none of it", async () => {
    const before = await snapshotTables(api.database);
    const paths = Array.from({ length: MAX_BATCH + 1 }, () => "progression.levelUp").join(",");
    const inputs = Object.fromEntries(Array.from({ length: MAX_BATCH + 1 }, (_, i) => [i, JSON.parse(levelUp({}))]));
    const res = await fetch(`${api.url}/trpc/${paths}?batch=1`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${instructor}` },
      body: JSON.stringify(inputs),
    });
    expect(res.status).toBe(400);
    expect(await snapshotTables(api.database)).toEqual(before);
  });

  it("refuses a body over MAX_BODY_BYTES with 413 and one message stating the limit, by Content-Length and streamed without one, single or batched", async () => {
    const before = await snapshotTables(api.database);
    const big = levelUp({ padding: "x".repeat(MAX_BODY) });
    const message = `request body exceeds ${MAX_BODY} bytes (MAX_BODY_BYTES)`;
    const byLength = await post(api.url, "progression.levelUp", big, instructor);
    expect(byLength.status).toBe(413);
    expect(byLength.body.error?.message).toBe(message);
    const single = await chunkedPost(`${api.url}/trpc/progression.levelUp`, big, instructor);
    expect(single.status).toBe(413);
    expect(single.body).toContain(message);
    // A batch goes through tRPC's adapter, which said only "PAYLOAD_TOO_LARGE" (regression).
    const batch = await chunkedPost(
      `${api.url}/trpc/progression.levelUp,progression.levelUp?batch=1`,
      JSON.stringify({ 0: JSON.parse(big), 1: {} }),
      instructor,
    );
    expect(batch.status).toBe(413);
    expect(batch.body).toContain(message);
    expect(await snapshotTables(api.database)).toEqual(before);
  });

  it("answers a POST without content-type with 415 saying to send application/json, on /trpc and REST alike", async () => {
    for (const path of ["/trpc/progression.levelUp", "/api/progression/levelUp"]) {
      const res = await rawRequest(`${api.url}${path}`, "POST", levelUp({}), instructor);
      expect(res.status).toBe(415);
      expect(res.body).toContain("send the input as application/json");
    }
  });

  for (const method of ["DELETE", "PUT", "PATCH", "OPTIONS"]) {
    it(`answers ${method} on a procedure with 405 METHOD_NOT_SUPPORTED (regression: DELETE got a 415 about content-type), and changes nothing`, async () => {
      const before = await snapshotTables(api.database);
      for (const path of ["/trpc/progression.get", "/trpc/progression.levelUp", "/api/progression/levelUp"]) {
        const res = await rawRequest(
          `${api.url}${path}`,
          method,
          method === "DELETE" || method === "OPTIONS" ? undefined : levelUp({}),
          instructor,
        );
        expect(res.status).toBe(405);
        expect(res.body).toContain("METHOD_NOT_SUPPORTED");
      }
      expect(await snapshotTables(api.database)).toEqual(before);
    });
  }

  it("answers an unknown procedure with 404 and a query sent as a mutation with 405", async () => {
    expect((await post(api.url, "progression.explode", "{}", admin)).status).toBe(404);
    expect(
      (await post(api.url, "progression.get", JSON.stringify({ userId: learner, specialization: "PLAYER" }), admin))
        .status,
    ).toBe(405);
  });
});

/** POSTs `body` with chunked transfer encoding (no Content-Length) and resolves with the status and the response body. */
function chunkedPost(url: string, body: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` } },
      (res) => {
        let text = "";
        res.on("data", (chunk: Buffer) => (text += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", (error: NodeJS.ErrnoException) => {
      // The server may answer and close before the whole body is written; the answer is what counts.
      if (error.code !== "EPIPE" && error.code !== "ECONNRESET") reject(error);
    });
    for (let i = 0; i < body.length; i += 1024) req.write(body.slice(i, i + 1024));
    req.end();
  });
}

/** A request with exactly the headers given (no content-type unless set): its status and body. */
function rawRequest(
  url: string,
  method: string,
  body: string | undefined,
  token: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body === undefined ? undefined : Buffer.from(body));
  });
}
