import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoupler, enrolledUser, snapshotTables } from "@coupler/testing";
import { signToken, type Role } from "../src/auth.ts";
import { ADMIN_ID, INSTRUCTOR_ID, post, startTestApi, type TestApi } from "./harness.ts";

/** Who calls: a role with a valid token (a student on their own or another learner's records), or a bad token. */
type Caller =
  | { kind: "role"; role: Role; own?: boolean }
  | { kind: "none" }
  | { kind: "malformed" }
  | { kind: "expired" }
  | { kind: "wrong secret" }
  | { kind: "no exp" }
  | { kind: "bad claims" };

const CALLERS: [string, Caller][] = [
  ["a student on their own records", { kind: "role", role: "student", own: true }],
  ["a student on another learner's records", { kind: "role", role: "student", own: false }],
  ["an instructor", { kind: "role", role: "instructor" }],
  ["an admin", { kind: "role", role: "admin" }],
  ["no token", { kind: "none" }],
  ["a malformed token", { kind: "malformed" }],
  ["an expired token", { kind: "expired" }],
  ["a token signed with another secret", { kind: "wrong secret" }],
  ["a token without exp", { kind: "no exp" }],
  ["a token with an unknown role", { kind: "bad claims" }],
];

type Method = "query" | "mutation";
interface Procedure {
  path: string;
  method: Method;
  /** Who may call it. "self" = a student on their own records. */
  allowed: ("self" | Role)[];
  input(learner: number): unknown;
}

let emails = 0;
const PROCEDURES: Procedure[] = [
  {
    path: "users.create",
    method: "mutation",
    allowed: ["admin"],
    input: () => ({ name: "Matrix", email: `matrix-${++emails}@example.test` }),
  },
  {
    path: "progression.enroll",
    method: "mutation",
    allowed: ["admin"],
    input: (userId) => ({ userId, specialization: "COACH" }),
  },
  {
    path: "progression.levelUp",
    method: "mutation",
    allowed: ["instructor", "admin"],
    input: (userId) => ({ userId, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
  },
  {
    path: "progression.advance",
    method: "mutation",
    allowed: ["admin"],
    input: (userId) => ({ userId, specialization: "PLAYER", newLevel: 2, reason: "matrix" }),
  },
  {
    path: "progression.sync",
    method: "mutation",
    allowed: ["admin"],
    input: (userId) => ({ userId, specialization: "PLAYER", source: "progress" }),
  },
  {
    path: "progression.get",
    method: "query",
    allowed: ["self", "instructor", "admin"],
    input: (userId) => ({ userId, specialization: "PLAYER" }),
  },
  {
    path: "progression.validate",
    method: "query",
    allowed: ["self", "instructor", "admin"],
    input: (userId) => ({ userId, specialization: "PLAYER" }),
  },
  {
    path: "progression.history",
    method: "query",
    allowed: ["self", "instructor", "admin"],
    input: (userId) => ({ userId, specialization: "PLAYER" }),
  },
  { path: "admin.integrity", method: "query", allowed: ["admin"], input: () => ({}) },
  { path: "admin.guard", method: "query", allowed: ["admin"], input: () => undefined },
  { path: "admin.setGuard", method: "mutation", allowed: ["admin"], input: () => ({ enabled: false }) },
];

let api: TestApi;
let student: number;
let other: number;
beforeAll(async () => {
  api = await startTestApi();
  const coupler = createCoupler(api.database);
  student = await enrolledUser(api.database, coupler);
  other = await enrolledUser(api.database, coupler);
});
afterAll(() => api.close());

async function tokenFor(caller: Caller): Promise<string | undefined> {
  switch (caller.kind) {
    case "role":
      return api.token(
        caller.role,
        caller.role === "student" ? student : caller.role === "admin" ? ADMIN_ID : INSTRUCTOR_ID,
      );
    case "none":
      return undefined;
    case "malformed":
      return "not-a-jwt";
    case "expired":
      return api.token("admin", ADMIN_ID, -60);
    case "wrong secret":
      return signToken({ sub: ADMIN_ID, role: "admin" }, "another-secret-of-at-least-32-characters!", {
        expiresIn: "10m",
      });
    case "no exp":
      return new SignJWT({ role: "admin" })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(String(ADMIN_ID))
        .sign(new TextEncoder().encode(api.secret));
    case "bad claims":
      return new SignJWT({ role: "superuser" })
        .setProtectedHeader({ alg: "HS256" })
        .setSubject(String(ADMIN_ID))
        .setIssuedAt()
        .setExpirationTime("10m")
        .sign(new TextEncoder().encode(api.secret));
  }
}

function expected(procedure: Procedure, caller: Caller): "OK" | "FORBIDDEN" | "UNAUTHORIZED" {
  if (caller.kind !== "role") return "UNAUTHORIZED";
  if (procedure.allowed.includes(caller.role)) return "OK";
  if (caller.role === "student" && caller.own && procedure.allowed.includes("self")) return "OK";
  return "FORBIDDEN";
}

/** Calls a procedure over plain HTTP: GET with ?input= for queries, POST with a JSON body for mutations. */
async function call(procedure: Procedure, learner: number, token: string | undefined) {
  const input = procedure.input(learner);
  if (procedure.method === "mutation") return post(api.url, procedure.path, JSON.stringify(input ?? {}), token);
  const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  const res = await fetch(`${api.url}/trpc/${procedure.path}${query}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return {
    status: res.status,
    body: (await res.json()) as { error?: { message: string; data: Record<string, unknown> } },
  };
}

const HTTP_STATUS = { OK: 200, FORBIDDEN: 403, UNAUTHORIZED: 401 } as const;

describe("the authorization matrix: every procedure × every caller", () => {
  for (const procedure of PROCEDURES) {
    for (const [who, caller] of CALLERS) {
      const outcome = expected(procedure, caller);
      it(`${procedure.path} by ${who} is ${outcome === "OK" ? "allowed" : `refused with ${outcome}`}`, async () => {
        const learner = caller.kind === "role" && caller.role === "student" && !caller.own ? other : student;
        const before = outcome === "OK" ? undefined : await snapshotTables(api.database);
        const { status, body } = await call(procedure, learner, await tokenFor(caller));
        expect(body.error?.data.code ?? "OK", body.error?.message).toBe(outcome);
        expect(status).toBe(HTTP_STATUS[outcome]);
        if (before) expect(await snapshotTables(api.database)).toEqual(before);
      });
    }
  }

  it("names the role a refused call needed", async () => {
    const { body } = await post(
      api.url,
      "progression.levelUp",
      JSON.stringify(PROCEDURES[2]?.input(student)),
      await api.token("student", student),
    );
    expect(body.error?.message).toMatch(/requires role instructor or admin; the token's role is student/);
  });

  it("refuses a student before validating the input, so nothing about other learners leaks", async () => {
    const { body } = await call(
      { ...(PROCEDURES[5] as Procedure), input: () => ({ userId: other, specialization: "NOPE" }) },
      other,
      await api.token("student", student),
    );
    expect(body.error?.data.code).toBe("FORBIDDEN");
  });

  it("says why a token was refused", async () => {
    const expired = await call(PROCEDURES[9] as Procedure, student, await tokenFor({ kind: "expired" }));
    expect(expired.body.error?.message).toBe("token expired");
    const missing = await call(PROCEDURES[9] as Procedure, student, undefined);
    expect(missing.body.error?.message).toBe("missing Authorization header");
  });

  it("refuses a 100-year token with 401 and says its lifetime exceeds the 24h maximum", async () => {
    const { status, body } = await call(
      PROCEDURES[9] as Procedure,
      student,
      await api.token("admin", ADMIN_ID, "100y"),
    );
    expect(status).toBe(401);
    expect(body.error?.message).toBe("token lifetime exceeds the 24h maximum");
  });
});

describe("bench procedures", () => {
  it("do not exist unless bench mode is on, whoever asks", async () => {
    for (const path of ["bench.legacyLevelUp", "bench.legacySync"]) {
      for (const token of [undefined, await api.token("admin", ADMIN_ID)]) {
        const { status, body } = await post(
          api.url,
          path,
          JSON.stringify({ userId: student, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 1 }),
          token,
        );
        expect(status).toBe(404);
        expect(body.error?.data.code).toBe("NOT_FOUND");
      }
    }
  });

  it("in bench mode run the legacy path for the roles of their coupled counterparts", async () => {
    await using bench = await startTestApi({ database: api.database, benchMode: true });
    const instructor = await bench.client("instructor");
    const admin = await bench.client("admin");
    const result = await instructor.bench.legacyLevelUp.mutate({
      userId: other,
      specialization: "PLAYER",
      xpGained: 100,
      sessionsCompleted: 1,
    });
    expect(result).toMatchObject({ newLevel: 2 });
    expect(
      await admin.bench.legacySync.mutate({ userId: other, specialization: "PLAYER", source: "progress" }),
    ).toMatchObject({ level: 2 });
    const refused = await post(
      bench.url,
      "bench.legacySync",
      JSON.stringify({ userId: other, specialization: "PLAYER", source: "progress" }),
      await bench.token("instructor", INSTRUCTOR_ID),
    );
    expect(refused.status).toBe(403);
    const student = await post(
      bench.url,
      "bench.legacyLevelUp",
      JSON.stringify({ userId: other, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 1 }),
      await bench.token("student", other),
    );
    expect(student.status).toBe(403);
  });
});
