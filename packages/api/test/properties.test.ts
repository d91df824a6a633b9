import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runIntegrityAudit } from "@coupler/core";
import { auditRows, createCoupler, createUsers, enrolledUser, pairRows, snapshotTables } from "@coupler/testing";
import { post, startTestApi, type TestApi } from "./harness.ts";

let api: TestApi;
let learner: number;
let admin: string;

beforeAll(async () => {
  api = await startTestApi();
  learner = await enrolledUser(api.database, createCoupler(api.database));
  admin = await api.token("admin", 1);
});
afterAll(() => api.close());

const MUTATIONS = [
  "users.create",
  "progression.enroll",
  "progression.levelUp",
  "progression.advance",
  "progression.sync",
  "admin.setGuard",
];
const QUERIES = ["progression.get", "progression.validate", "progression.history", "admin.integrity", "admin.guard"];

/** A valid input per procedure; the generator breaks one field of it at a time. */
function validInput(path: string): Record<string, unknown> | undefined {
  const pair = { userId: learner, specialization: "PLAYER" };
  const inputs: Record<string, Record<string, unknown> | undefined> = {
    "users.create": { name: "Property learner", email: `prop-${Math.random().toString(36).slice(2)}@example.test` },
    "progression.enroll": { userId: learner, specialization: "COACH" },
    "progression.levelUp": { ...pair, xpGained: 10, sessionsCompleted: 1 },
    "progression.advance": { ...pair, newLevel: 2, reason: "property test" },
    "progression.sync": { ...pair, source: "progress" },
    "admin.setGuard": { enabled: false },
    "progression.get": pair,
    "progression.validate": pair,
    "progression.history": { ...pair, limit: 5 },
    "admin.integrity": { sampleLimit: 5 },
    "admin.guard": undefined,
  };
  return inputs[path];
}

/** Any value a field might be sent: JSON of any shape, edge numbers, and text PostgreSQL cannot store (NUL, lone surrogates). */
const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.constant("nul\u0000inside"),
  fc.constantFrom(0, -1, 1.5, 2 ** 31, Number.MAX_SAFE_INTEGER, 1e300, "", " ", "PLAYER", "progress"),
);

/** Any JSON at all; a valid input with one field replaced (or added); a valid input as is. */
function arbitraryInput(path: string) {
  const valid = validInput(path) ?? {};
  const keys = [...Object.keys(valid), "unexpected"];
  const broken = fc.tuple(fc.constantFrom(...keys), anyValue).map(([key, value]) => ({ ...valid, [key]: value }));
  return fc.oneof(fc.jsonValue({ maxDepth: 3 }), broken, fc.constant(validInput(path)));
}

async function get(path: string, input: unknown) {
  const query = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  const res = await fetch(`${api.url}/trpc/${path}${query}`, { headers: { authorization: `Bearer ${admin}` } });
  return {
    status: res.status,
    body: (await res.json()) as { error?: { message: string; data: Record<string, unknown> } },
  };
}

describe("arbitrary JSON to every procedure", () => {
  for (const path of [...MUTATIONS, ...QUERIES]) {
    it(`${path} answers with a result or a 4xx with a clear message, never a 500, and a refused call writes nothing`, async () => {
      await fc.assert(
        fc.asyncProperty(arbitraryInput(path), async (input) => {
          const before = await snapshotTables(api.database);
          const { status, body } = MUTATIONS.includes(path)
            ? await post(api.url, path, JSON.stringify(input) ?? "null", admin)
            : await get(path, input);
          expect(status, JSON.stringify(body)).toBeLessThan(500);
          if (status >= 400) {
            expect(body.error?.message.trim().length ?? 0).toBeGreaterThan(0);
            expect(await snapshotTables(api.database)).toEqual(before);
          }
        }),
        { numRuns: 60 },
      );
      // Whatever was accepted left every pair whole and in step.
      expect((await runIntegrityAudit(api.database.pool)).violations).toBe(0);
    });
  }
});

describe("the same idempotency key sent concurrently", () => {
  it("has exactly one effect, and every caller gets the same result", async () => {
    const instructor = await api.token("instructor", 2);
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 8 }),
        fc.integer({ min: 1, max: 2_000 }),
        fc.integer({ min: 0, max: 5 }),
        async (callers, xp, sessions) => {
          const [userId = 0] = await createUsers(api.database, 1);
          await createCoupler(api.database).enroll({ userId: userId, specialization: "PLAYER" });
          const key = `prop-same-key-${++run}`;
          const body = JSON.stringify({
            userId,
            specialization: "PLAYER",
            xpGained: xp,
            sessionsCompleted: sessions,
            idempotencyKey: key,
          });
          const answers = await Promise.all(
            Array.from({ length: callers }, () => post(api.url, "progression.levelUp", body, instructor)),
          );
          expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
          const results = answers.map((a) => (a.body.result as { data: { totalXp: number; replayed: boolean } }).data);
          expect(results.filter((r) => !r.replayed)).toHaveLength(1);
          expect(new Set(results.map((r) => r.totalXp))).toEqual(new Set([xp]));
          expect(await pairRows(api.database, userId)).toMatchObject({ totalXp: xp, completedSessions: sessions });
          expect((await auditRows(api.database, userId)).filter((r) => r.idempotency_key === key)).toHaveLength(1);
        },
      ),
      { numRuns: 15 },
    );
  });
});
