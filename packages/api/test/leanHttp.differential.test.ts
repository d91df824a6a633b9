import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoupler, createUsers, enrolledUser } from "@coupler/testing";
import { ADMIN_ID, INSTRUCTOR_ID, startTestApi, type TestApi } from "./harness.ts";

/**
 * The lean path must answer every request exactly as tRPC's own adapter
 * does. Two servers share one database and one token secret, lean on and
 * off; each request of the corpus goes to both, with its own learner where
 * the call changes state, and status, body and headers must match.
 */
const MAX_BODY = 4096;
let lean: TestApi;
let official: TestApi;
beforeAll(async () => {
  lean = await startTestApi({ leanHttp: true, maxBodyBytes: MAX_BODY });
  official = await startTestApi({
    leanHttp: false,
    maxBodyBytes: MAX_BODY,
    database: lean.database,
    authSecret: lean.secret,
  });
  // Learner ids far from any level, XP or count in the answers, so normalizing them cannot hide a difference.
  await lean.database.pool.query("select setval(pg_get_serial_sequence('users', 'id'), 700000)");
});
afterAll(async () => {
  await official.close();
  await lean.close();
});

interface Call {
  method?: string;
  path: string;
  /** `$learner` is replaced by a learner of each server's own; `$tag` by "lean" or "official". */
  body?: string | Buffer | Buffer[];
  token?: "admin" | "instructor" | "student" | "otherStudent" | "expired" | "garbage";
  headers?: Record<string, string>;
}

interface Answer {
  status: number;
  /** How the body was framed; not compared (the lean path always sends a content-length). */
  framing?: string;
  headers: Record<string, string | undefined>;
  body: unknown;
}

const LEVEL_UP = '{"userId":$learner,"specialization":"PLAYER","xpGained":150,"sessionsCompleted":1}';

const corpus: Record<string, Call> = {
  levelUp: { path: "progression.levelUp", body: LEVEL_UP, token: "instructor" },
  "levelUp with an idempotency key": {
    path: "progression.levelUp",
    body: '{"userId":$learner,"specialization":"PLAYER","xpGained":5,"sessionsCompleted":1,"idempotencyKey":"key-$tag-0001"}',
    token: "admin",
  },
  "levelUp, json with charset": {
    path: "progression.levelUp",
    body: LEVEL_UP,
    token: "instructor",
    headers: { "content-type": "application/json; charset=utf-8" },
  },
  "levelUp, upper-case content type": {
    path: "progression.levelUp",
    body: LEVEL_UP,
    token: "instructor",
    headers: { "content-type": "Application/JSON" },
  },
  "levelUp, chunked body": {
    path: "progression.levelUp",
    body: [
      Buffer.from('{"userId":$learner,'),
      Buffer.from('"specialization":"PLAYER","xpGained":1,"sessionsCompleted":1}'),
    ],
    token: "instructor",
  },
  "levelUp, byte order mark": { path: "progression.levelUp", body: `\ufeff${LEVEL_UP}`, token: "instructor" },
  "levelUp, unknown learner": {
    path: "progression.levelUp",
    body: '{"userId":2000000,"specialization":"PLAYER","xpGained":1,"sessionsCompleted":1}',
    token: "instructor",
  },
  "levelUp, negative XP": {
    path: "progression.levelUp",
    body: '{"userId":$learner,"specialization":"PLAYER","xpGained":-1,"sessionsCompleted":1}',
    token: "instructor",
  },
  "levelUp, wrong types": {
    path: "progression.levelUp",
    body: '{"userId":"x","specialization":7}',
    token: "instructor",
  },
  "levelUp, unknown specialization": {
    path: "progression.levelUp",
    body: '{"userId":$learner,"specialization":"CHEF","xpGained":1,"sessionsCompleted":1}',
    token: "instructor",
  },
  "levelUp, empty body": { path: "progression.levelUp", body: "", token: "instructor" },
  "levelUp, JSON null": { path: "progression.levelUp", body: "null", token: "instructor" },
  "levelUp, malformed JSON": { path: "progression.levelUp", body: '{"userId":', token: "instructor" },
  "levelUp, malformed JSON and no token": { path: "progression.levelUp", body: "{nope" },
  "levelUp, invalid UTF-8": {
    path: "progression.levelUp",
    body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
    token: "instructor",
  },
  "levelUp, no token": { path: "progression.levelUp", body: LEVEL_UP },
  "levelUp, garbage token": { path: "progression.levelUp", body: LEVEL_UP, token: "garbage" },
  "levelUp, expired token": { path: "progression.levelUp", body: LEVEL_UP, token: "expired" },
  "levelUp, student": { path: "progression.levelUp", body: LEVEL_UP, token: "student" },
  "levelUp, text/plain": {
    path: "progression.levelUp",
    body: LEVEL_UP,
    token: "instructor",
    headers: { "content-type": "text/plain" },
  },
  "levelUp, no content type": {
    path: "progression.levelUp",
    body: LEVEL_UP,
    token: "instructor",
    headers: { "content-type": "" },
  },
  "levelUp, as GET": {
    method: "GET",
    path: `progression.levelUp?input=${encodeURIComponent('{"userId":1}')}`,
    token: "instructor",
  },
  "levelUp, streaming accept": {
    path: "progression.levelUp",
    body: LEVEL_UP,
    token: "instructor",
    headers: { "trpc-accept": "application/jsonl" },
  },
  "levelUp, trailing slash": { path: "progression.levelUp/", body: LEVEL_UP, token: "instructor" },
  "levelUp, with a query string": { path: "progression.levelUp?x=1", body: LEVEL_UP, token: "instructor" },
  "levelUp, HEAD": { method: "HEAD", path: "progression.levelUp", token: "instructor" },
  "levelUp, content-length over the limit": {
    path: "progression.levelUp",
    body: `{"pad":"${"x".repeat(MAX_BODY)}"}`,
    token: "instructor",
  },
  enroll: { path: "progression.enroll", body: '{"userId":$fresh,"specialization":"COACH"}', token: "admin" },
  "advance, unicode reason": {
    path: "progression.advance",
    body: '{"userId":$learner,"specialization":"PLAYER","newLevel":3,"reason":"Prüfung ✓ 日本語 🎉"}',
    token: "admin",
  },
  "advance, NUL in reason": {
    path: "progression.advance",
    body: '{"userId":$learner,"specialization":"PLAYER","newLevel":3,"reason":"a\\u0000b"}',
    token: "admin",
  },
  "advance above the maximum": {
    path: "progression.advance",
    body: '{"userId":$learner,"specialization":"PLAYER","newLevel":999,"reason":"x"}',
    token: "admin",
  },
  "advance, instructor": {
    path: "progression.advance",
    body: '{"userId":$learner,"specialization":"PLAYER","newLevel":3,"reason":"x"}',
    token: "instructor",
  },
  sync: {
    path: "progression.sync",
    body: '{"userId":$learner,"specialization":"PLAYER","source":"progress"}',
    token: "admin",
  },
  "users.create, unicode name": {
    path: "users.create",
    body: '{"name":"Zoë 山田 $tag","email":"zoe-$tag@example.test"}',
    token: "admin",
  },
  "users.create, bad email": { path: "users.create", body: '{"name":"x","email":"nope"}', token: "admin" },
  "admin.setGuard": { path: "admin.setGuard", body: '{"enabled":false}', token: "admin" },
  "bench.legacyLevelUp outside bench mode": { path: "bench.legacyLevelUp", body: LEVEL_UP, token: "admin" },
  get: {
    method: "GET",
    path: `progression.get?input=${encodeURIComponent('{"userId":$learner,"specialization":"PLAYER"}')}`,
    token: "instructor",
  },
  "get, own records as student": {
    method: "GET",
    path: `progression.get?input=${encodeURIComponent('{"userId":$learner,"specialization":"PLAYER"}')}`,
    token: "student",
  },
  "get, another's records as student": {
    method: "GET",
    path: `progression.get?input=${encodeURIComponent('{"userId":$learner,"specialization":"PLAYER"}')}`,
    token: "otherStudent",
  },
  "get, no input": { method: "GET", path: "progression.get", token: "instructor" },
  "get, empty input": { method: "GET", path: "progression.get?input=", token: "instructor" },
  "get, malformed input": { method: "GET", path: "progression.get?input=%7Bnope", token: "instructor" },
  "get, plus signs in input": {
    method: "GET",
    path: 'progression.get?input={"userId":+$learner,"specialization":"PLAYER"}',
    token: "instructor",
  },
  "get, json content type": {
    method: "GET",
    path: `progression.get?input=${encodeURIComponent('{"userId":$learner,"specialization":"PLAYER"}')}`,
    token: "instructor",
    headers: { "content-type": "application/json" },
  },
  "get, announcing a body over the limit": {
    method: "GET",
    path: `progression.get?input=${encodeURIComponent('{"userId":$learner,"specialization":"PLAYER"}')}`,
    body: "x".repeat(MAX_BODY + 1),
    token: "instructor",
    headers: { "content-length": String(MAX_BODY + 1) },
  },
  "get, as POST": {
    path: "progression.get",
    body: '{"userId":$learner,"specialization":"PLAYER"}',
    token: "instructor",
  },
  validate: {
    method: "GET",
    path: `progression.validate?input=${encodeURIComponent('{"userId":$learner,"specialization":"PLAYER"}')}`,
    token: "admin",
  },
  history: {
    method: "GET",
    path: `progression.history?input=${encodeURIComponent('{"userId":$learner,"specialization":"PLAYER","limit":5}')}`,
    token: "admin",
  },
  "history, bad limit": {
    method: "GET",
    path: `progression.history?input=${encodeURIComponent('{"userId":$learner,"specialization":"PLAYER","limit":0}')}`,
    token: "admin",
  },
  "admin.guard": { method: "GET", path: "admin.guard", token: "admin" },
  "admin.integrity, student": { method: "GET", path: "admin.integrity", token: "student" },
  "unknown procedure": { path: "progression.nope", body: "{}", token: "admin" },
  // The calls of a batch run concurrently: one valid and one refused call keep the outcome deterministic.
  batch: {
    path: "progression.levelUp,progression.levelUp?batch=1",
    body: `{"0":${LEVEL_UP},"1":{"userId":$learner}}`,
    token: "instructor",
  },
  "batch GET": {
    method: "GET",
    path: `progression.get,admin.guard?batch=1&input=${encodeURIComponent('{"0":{"userId":$learner,"specialization":"PLAYER"}}')}`,
    token: "admin",
  },
  PUT: { method: "PUT", path: "progression.levelUp", body: LEVEL_UP, token: "instructor" },
};

describe("the lean path answers like tRPC's adapter", () => {
  for (const [name, call] of Object.entries(corpus)) {
    it(`answers alike: ${name}`, async () => {
      const [{ framing: _a, ...a }, { framing: _b, ...b }] = await Promise.all([
        send(lean, "lean", call),
        send(official, "official", call),
      ]);
      expect(a).toEqual(b);
    });
  }

  it("serves plain calls on the lean path and the rest on tRPC's adapter (seen in the framing: content-length against chunked)", async () => {
    const framing = async (api: TestApi, call: Call) => (await send(api, "x", call)).framing;
    expect(await framing(lean, corpus["levelUp"] as Call)).toBe("content-length");
    expect(await framing(lean, corpus["get"] as Call)).toBe("content-length");
    expect(await framing(official, corpus["levelUp"] as Call)).toBe("chunked");
    expect(await framing(lean, corpus["batch"] as Call)).toBe("chunked");
    expect(await framing(lean, corpus["levelUp, text/plain"] as Call)).toBe("chunked");
  });

  it("answers admin.integrity alike up to the counts, which other calls of this file change meanwhile", async () => {
    const call: Call = {
      method: "GET",
      path: `admin.integrity?input=${encodeURIComponent('{"sampleLimit":0}')}`,
      token: "admin",
    };
    const [a, b] = await Promise.all([send(lean, "lean", call), send(official, "official", call)]);
    expect(a.status).toBe(200);
    expect({ ...a, framing: undefined, body: shapeOf(a.body) }).toEqual({
      ...b,
      framing: undefined,
      body: shapeOf(b.body),
    });
  });

  it("refuses a chunked body over the limit with the server's 413 envelope and closes the connection", async () => {
    const chunks = [Buffer.from('{"pad":"'), Buffer.alloc(MAX_BODY, "x"), Buffer.from('"}')];
    const a = await send(lean, "lean", { path: "progression.levelUp", body: chunks, token: "instructor" });
    expect(a.status).toBe(413);
    expect(a.body).toEqual({
      error: {
        code: -32013, // tRPC's PAYLOAD_TOO_LARGE
        message: `request body exceeds ${MAX_BODY} bytes (MAX_BODY_BYTES)`,
        data: { code: "PAYLOAD_TOO_LARGE", httpStatus: 413, couplerCode: "PAYLOAD_TOO_LARGE", retryable: false },
      },
    });
    // tRPC's adapter refuses it too, with its own shape of the same error.
    const b = await send(official, "official", { path: "progression.levelUp", body: chunks, token: "instructor" });
    expect(b.status).toBe(413);
    expect(b.body).toMatchObject({
      error: {
        data: { code: "PAYLOAD_TOO_LARGE", httpStatus: 413, couplerCode: "PAYLOAD_TOO_LARGE", retryable: false },
      },
    });
  });
});

async function send(api: TestApi, tag: string, call: Call): Promise<Answer> {
  const coupler = createCoupler(api.database);
  const learner = await enrolledUser(api.database, coupler);
  const [fresh, other] = await createUsers(api.database, 2);
  const tokens = {
    admin: () => api.token("admin", ADMIN_ID),
    instructor: () => api.token("instructor", INSTRUCTOR_ID),
    student: () => api.token("student", learner),
    otherStudent: () => api.token("student", other ?? 0),
    expired: () => api.token("instructor", INSTRUCTOR_ID, -60),
    garbage: async () => "not-a-jwt",
  };
  // Placeholders in a URL-encoded ?input= are spelled %24learner; before this was filled too, every GET of the corpus was a PARSE_ERROR.
  const fill = (text: string) =>
    text
      .replaceAll(/(\$|%24)learner/g, String(learner))
      .replaceAll(/(\$|%24)fresh/g, String(fresh))
      .replaceAll(/(\$|%24)tag/g, tag);
  const body =
    call.body === undefined
      ? undefined
      : Array.isArray(call.body)
        ? call.body.map((c) => Buffer.from(fill(c.toString("latin1")), "latin1"))
        : typeof call.body === "string"
          ? fill(call.body)
          : call.body;
  const headers: Record<string, string> = { "content-type": "application/json", ...call.headers };
  if (headers["content-type"] === "") delete headers["content-type"];
  if (call.token) headers.authorization = `Bearer ${await tokens[call.token]()}`;
  const answer = await raw(`${api.url}/trpc/${fill(call.path)}`, call.method ?? "POST", headers, body);
  return { ...answer, body: normalize(answer.body, { learner, fresh: fresh ?? 0, tag }) };
}

function raw(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | Buffer | Buffer[] | undefined,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, connection: "close" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const pick = (key: string) => res.headers[key] as string | undefined;
        resolve({
          status: res.statusCode ?? 0,
          framing:
            res.headers["transfer-encoding"] ??
            (res.headers["content-length"] === undefined ? "none" : "content-length"),
          headers: { "content-type": pick("content-type"), vary: pick("vary"), allow: pick("allow") },
          body: text === "" ? "" : (JSON.parse(text) as unknown),
        });
      });
    });
    req.on("error", reject);
    if (Array.isArray(body)) {
      for (const chunk of body) req.write(chunk);
      req.end();
    } else req.end(body);
  });
}

/** Server-assigned values that legitimately differ: each server's own learner, user ids, timestamps, row ids. */
function normalize(value: unknown, own: { learner: number; fresh: number; tag: string }): unknown {
  if (typeof value === "number") return value === own.learner ? "<learner>" : value === own.fresh ? "<fresh>" : value;
  if (typeof value === "string") {
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(value)) return "<time>";
    return value
      .replaceAll(String(own.learner), "<learner>")
      .replaceAll(String(own.fresh), "<fresh>")
      .replaceAll(own.tag, "<tag>");
  }
  if (Array.isArray(value)) return value.map((v) => normalize(v, own));
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, k === "id" || k === "nextCursor" ? typeof v : normalize(v, own)]),
    );
  }
  return value;
}

/** Keys and value types only. */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shapeOf);
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shapeOf(v)]));
  return typeof value;
}
