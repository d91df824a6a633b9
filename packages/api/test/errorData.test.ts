import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createCoupler,
  enrolledUser,
  pairRows,
  snapshotTables,
  waitForLockWaiters,
  whilePairLocked,
} from "@coupler/testing";
import { isCouplerClientError } from "../src/client.ts";
import { startTestApi, type TestApi } from "./harness.ts";

/*
 * Issue 17: `data.couplerCode` and `data.retryable` were missing from input
 * errors (400), 401, 403 and 415, so a client branching on them missed the
 * commonest errors. Every error status, on every path a client can take
 * (/trpc single and batched, on the lean path and tRPC's adapter — this file
 * runs in both vitest projects — and REST under /api), carries both.
 */
const MAX_BODY = 4096;
const MAX_BATCH = 3;

let api: TestApi;
/** An API on a database nobody listens on: every call that reaches the database is 503. */
let down: TestApi;
let learner: number;
const tokens: Record<"admin" | "instructor" | "student", string> = { admin: "", instructor: "", student: "" };

beforeAll(async () => {
  api = await startTestApi({ maxBodyBytes: MAX_BODY, maxBatchSize: MAX_BATCH });
  learner = await enrolledUser(api.database, createCoupler(api.database));
  tokens.admin = await api.token("admin", 1);
  tokens.instructor = await api.token("instructor", 2);
  tokens.student = await api.token("student", learner + 1);
  down = await startTestApi({
    database: { ...api.database, url: "postgres://nobody:x@127.0.0.1:1/none", drop: async () => {} },
    authSecret: api.secret,
    lockTimeoutMs: 200,
    maxRetries: 0,
  });
});
afterAll(async () => {
  await down?.close();
  await api?.close();
});

type Role = keyof typeof tokens;
interface Call {
  path: string;
  input: unknown;
  role?: Role;
  /** Sent as the raw body instead of JSON.stringify(input). */
  raw?: string;
  contentType?: string;
  on?: () => TestApi;
}
interface ErrorData {
  code?: string;
  couplerCode?: string;
  retryable?: unknown;
  httpStatus?: number;
  issues?: { path: string; message: string }[];
}

const levelUp = (fields: Record<string, unknown> = {}) => ({
  userId: learner,
  specialization: "PLAYER",
  xpGained: 10,
  sessionsCompleted: 1,
  ...fields,
});
const REST_PATH: Record<string, string> = {
  "progression.levelUp": "/progression/levelUp",
  "users.create": "/users/create",
  "progression.nothing": "/progression/nothing",
};

function headers(call: Call): Record<string, string> {
  return {
    "content-type": call.contentType ?? "application/json",
    ...(call.role ? { authorization: `Bearer ${tokens[call.role]}` } : {}),
  };
}
const body = (call: Call) => call.raw ?? JSON.stringify(call.input);
const base = (call: Call) => (call.on?.() ?? api).url;

/** One POST to /trpc/<path>: the status and `error.data`. */
async function viaTrpc(call: Call): Promise<{ status: number; data: ErrorData; message: string }> {
  const res = await fetch(`${base(call)}/trpc/${call.path}`, {
    method: "POST",
    headers: headers(call),
    body: body(call),
  });
  const json = (await res.json()) as { error: { message: string; data: ErrorData } };
  return { status: res.status, data: json.error.data, message: json.error.message };
}

/** The same call as a batch of one (`?batch=1`): tRPC's adapter answers it, an array of results. */
async function viaBatch(call: Call): Promise<{ status: number; data: ErrorData }> {
  const batched = call.raw ?? JSON.stringify({ 0: call.input });
  const res = await fetch(`${base(call)}/trpc/${call.path}?batch=1`, {
    method: "POST",
    headers: headers(call),
    body: batched,
  });
  const json = (await res.json()) as { error: { data: ErrorData } } | { error: { data: ErrorData } }[];
  return { status: res.status, data: (Array.isArray(json) ? json[0] : json)?.error.data ?? {} };
}

/** The same call on the REST route. */
async function viaRest(call: Call): Promise<{ status: number; data: ErrorData }> {
  const res = await fetch(`${base(call)}/api${REST_PATH[call.path] ?? ""}`, {
    method: "POST",
    headers: headers(call),
    body: body(call),
  });
  const json = (await res.json()) as { data: ErrorData };
  return { status: res.status, data: json.data };
}

/** [what, HTTP status, couplerCode, retryable, the call]. */
const CASES: [string, number, string, boolean, () => Call][] = [
  [
    "input that breaks the schema",
    400,
    "VALIDATION",
    false,
    () => ({ path: "progression.levelUp", input: levelUp({ xpGained: "ten" }), role: "instructor" }),
  ],
  [
    "malformed JSON",
    400,
    "MALFORMED_JSON",
    false,
    () => ({ path: "progression.levelUp", input: null, raw: '{"userId": 1,', role: "instructor" }),
  ],
  ["no bearer token", 401, "UNAUTHENTICATED", false, () => ({ path: "progression.levelUp", input: levelUp() })],
  [
    "a student awarding XP",
    403,
    "FORBIDDEN",
    false,
    () => ({ path: "progression.levelUp", input: levelUp(), role: "student" }),
  ],
  [
    "a learner not enrolled",
    404,
    "NOT_FOUND",
    false,
    () => ({ path: "progression.levelUp", input: levelUp({ specialization: "INTERNSHIP" }), role: "instructor" }),
  ],
  ["an unknown procedure", 404, "NOT_FOUND", false, () => ({ path: "progression.nothing", input: {}, role: "admin" })],
  [
    "a taken email",
    409,
    "CONFLICT",
    false,
    () => ({ path: "users.create", input: { name: "Taken", email: "taken@example.test" }, role: "admin" }),
  ],
  [
    "a body over MAX_BODY_BYTES",
    413,
    "PAYLOAD_TOO_LARGE",
    false,
    () => ({ path: "progression.levelUp", input: levelUp({ pad: "x".repeat(MAX_BODY) }), role: "instructor" }),
  ],
  [
    "a form-encoded body",
    415,
    "UNSUPPORTED_MEDIA_TYPE",
    false,
    () => ({
      path: "progression.levelUp",
      input: null,
      raw: "userId=1",
      contentType: "application/x-www-form-urlencoded",
      role: "instructor",
    }),
  ],
  [
    "a database nobody listens on",
    503,
    "UNAVAILABLE",
    true,
    () => ({ path: "progression.levelUp", input: levelUp(), role: "instructor", on: () => down }),
  ],
];

describe("every error carries data.couplerCode and data.retryable", () => {
  beforeAll(async () => {
    // The email the CONFLICT case takes again.
    await fetch(`${api.url}/trpc/users.create`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens.admin}` },
      body: JSON.stringify({ name: "Taken", email: "taken@example.test" }),
    });
  });

  for (const [what, status, couplerCode, retryable, call] of CASES) {
    it(`answers ${what} with ${status}, couplerCode ${couplerCode} and retryable ${retryable}, on /trpc, in a batch and on REST`, async () => {
      const single = await viaTrpc(call());
      expect(single.status, single.message).toBe(status);
      expect(single.data).toMatchObject({ couplerCode, retryable, httpStatus: status });

      const batch = await viaBatch(call());
      expect(batch.data).toMatchObject({ couplerCode, retryable });

      if (REST_PATH[call().path] !== undefined) {
        const rest = await viaRest(call());
        expect(rest.status).toBe(status);
        expect(rest.data).toMatchObject({ couplerCode, retryable, httpStatus: status });
      }
    });
  }

  it("answers a batch over MAX_BATCH_SIZE with VALIDATION, stating the limit", async () => {
    const paths = Array.from({ length: MAX_BATCH + 1 }, () => "progression.levelUp").join(",");
    const inputs = Object.fromEntries(Array.from({ length: MAX_BATCH + 1 }, (_, i) => [i, levelUp()]));
    const res = await fetch(`${api.url}/trpc/${paths}?batch=1`, {
      method: "POST",
      headers: headers({ path: "", input: null, role: "instructor" }),
      body: JSON.stringify(inputs),
    });
    const json = (await res.json()) as { error: { message: string; data: ErrorData } };
    expect(res.status).toBe(400);
    expect(json.error.data).toMatchObject({ couplerCode: "VALIDATION", retryable: false });
    expect(json.error.message).toContain(`at most ${MAX_BATCH} calls`);
  });

  it("answers a path outside every route with NOT_FOUND in tRPC's error shape", async () => {
    const res = await fetch(`${api.url}/nowhere`);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { data: ErrorData } }).error.data).toMatchObject({
      couplerCode: "NOT_FOUND",
      retryable: false,
    });
  });
});

describe("a full write-combining queue is a real 429", () => {
  it("answers a level-up on a pair whose queue is full with 429, couplerCode OVERLOADED and retryable true, on /trpc, in a batch, on REST and in the typed client, changing nothing", async () => {
    // COUPLER_WRITE_COMBINING_MAX_QUEUE=0: no call may wait for a pair whose transaction is in flight.
    await using full = await startTestApi({
      database: { ...api.database, drop: async () => {} },
      authSecret: api.secret,
      combining: { enabled: true, maxBatchSize: 64, maxQueuePerPair: 0 },
    });
    const pair = await enrolledUser(api.database, createCoupler(api.database));
    const call = (): Call => ({
      path: "progression.levelUp",
      input: levelUp({ userId: pair }),
      role: "instructor",
      on: () => full,
    });
    const instructor = await full.client("instructor");
    const { inFlight, refused, before, after } = await whilePairLocked(api.database, pair, async (holder) => {
      // Another connection holds the pair's rows, so the first call's transaction stays in flight.
      const inFlight = instructor.progression.levelUp.mutate({
        userId: pair,
        specialization: "PLAYER",
        xpGained: 10,
        sessionsCompleted: 1,
      });
      await waitForLockWaiters(api.database, { blockedBy: holder.pid });
      const before = await snapshotTables(api.database);
      const refused = {
        single: await viaTrpc(call()),
        batch: await viaBatch(call()),
        rest: await viaRest(call()),
        client: await instructor.progression.levelUp
          .mutate({ userId: pair, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 })
          .catch((error: unknown) => error),
      };
      return { inFlight, refused, before, after: await snapshotTables(api.database) };
    });
    expect(refused.single.status, refused.single.message).toBe(429);
    expect(refused.single.data).toMatchObject({ couplerCode: "OVERLOADED", retryable: true, httpStatus: 429 });
    expect(refused.batch.status).toBe(429);
    expect(refused.batch.data).toMatchObject({ couplerCode: "OVERLOADED", retryable: true });
    expect(refused.rest.status).toBe(429);
    expect(refused.rest.data).toMatchObject({ couplerCode: "OVERLOADED", retryable: true, httpStatus: 429 });
    expect(isCouplerClientError(refused.client) && refused.client.data).toMatchObject({
      couplerCode: "OVERLOADED",
      retryable: true,
      httpStatus: 429,
    });
    expect(after).toEqual(before);
    // The call in flight applies once the rows are free; the four refused ones left no trace.
    await expect(inFlight).resolves.toMatchObject({ replayed: false });
    expect(await pairRows(api.database, pair)).toMatchObject({ totalXp: 10, completedSessions: 1 });
  });
});

describe("error messages are written for the person fixing the call", () => {
  it("says 'required' for each missing field", async () => {
    const { data, message } = await viaTrpc({ path: "progression.levelUp", input: {}, role: "instructor" });
    expect(data.issues).toEqual(
      ["userId", "specialization", "xpGained", "sessionsCompleted"].map((path) => ({ path, message: "required" })),
    );
    expect(message).not.toContain("received undefined");
  });

  it("gives a field one issue, not one per failed check (regression: userId 1e20 had two)", async () => {
    const { data } = await viaTrpc({
      path: "progression.levelUp",
      input: levelUp({ userId: 1e20 }),
      role: "instructor",
    });
    const issues = data.issues?.filter((issue) => issue.path === "userId") ?? [];
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toContain("2147483647");
  });

  it("keeps a present field's own message (a wrong value is not 'required')", async () => {
    const { data } = await viaTrpc({
      path: "progression.levelUp",
      input: levelUp({ specialization: "WIZARD" }),
      role: "instructor",
    });
    expect(data.issues).toEqual([
      { path: "specialization", message: "specialization must be one of PLAYER, COACH, INTERNSHIP" },
    ]);
  });

  it("says the input is required and names its fields for an empty body and for a GET without ?input (regression: zod's 'expected object, received undefined')", async () => {
    const fields = "a JSON object with userId, specialization, xpGained, sessionsCompleted (optional: idempotencyKey)";
    const empty = await viaTrpc({ path: "progression.levelUp", input: null, raw: "", role: "instructor" });
    expect(empty.status).toBe(400);
    expect(empty.data.issues).toEqual([{ path: "", message: `the input is required: ${fields}` }]);
    const res = await fetch(`${api.url}/trpc/progression.get`, {
      headers: headers({ path: "", input: null, role: "instructor" }),
    });
    const json = (await res.json()) as { error: { message: string; data: ErrorData } };
    expect(res.status).toBe(400);
    expect(json.error.data.issues).toEqual([
      { path: "", message: "the input is required: a JSON object with userId, specialization" },
    ]); // all of get's fields, not only userId
    expect(json.error.message).not.toContain("received undefined");
  });

  it("says 'must be a number' for a number sent as a string, and states a bound plainly", async () => {
    const asString = await viaTrpc({
      path: "progression.levelUp",
      input: levelUp({ xpGained: "100" }),
      role: "instructor",
    });
    expect(asString.data.issues).toEqual([{ path: "xpGained", message: "must be a number" }]);
    const fraction = await viaTrpc({
      path: "progression.levelUp",
      input: levelUp({ userId: 1.5 }),
      role: "instructor",
    });
    expect(fraction.data.issues).toEqual([{ path: "userId", message: "must be an integer" }]);
    const tooMany = await viaTrpc({
      path: "progression.levelUp",
      input: levelUp({ sessionsCompleted: 5000 }),
      role: "instructor",
    });
    expect(tooMany.data.issues).toEqual([{ path: "sessionsCompleted", message: "must be at most 1000" }]);
  });

  it("answers a form-encoded POST to /trpc with balanced quotes and the fix", async () => {
    const { message } = await viaTrpc({
      path: "progression.levelUp",
      input: null,
      raw: "userId=1",
      contentType: "application/x-www-form-urlencoded",
      role: "instructor",
    });
    expect(message).toBe(
      'unsupported content-type "application/x-www-form-urlencoded": send the input as application/json',
    );
  });
});
