import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, isCouplerError, type ProgressLicenseCoupler } from "@coupler/core";
import { useTestDatabase } from "../../src/vitest.ts";
import { createCoupler, enrolledUsers, waitForLockWaiters, type TestDatabase } from "../../src/index.ts";

// The issue's case (brianc/node-postgres #2338, #3543, #2243): 150 learners' rows held from outside,
// 150 calls waiting on them, a pool of 20. The rows are held by a few raw sessions (30 learners each),
// which holds them as well as 150 sessions would without needing 150 server connections.
const HELD = 150;
const PER_SESSION = 30;
const LOCK_TIMEOUT_MS = 3_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;
let held: number[];
let free: number;

beforeAll(async () => {
  database = await useTestDatabase({ max: 20 });
  coupler = createCoupler(database, { lockTimeoutMs: LOCK_TIMEOUT_MS });
  const ids = await enrolledUsers(database, coupler, HELD + 1);
  held = ids.slice(0, HELD);
  free = ids[HELD] as number;
}, 60_000);
afterAll(() => database.drop());

async function progressOf(ids: number[]): Promise<unknown[]> {
  const { rows } = await database.pool.query(
    "select * from specialization_progress where student_id = any($1) order by student_id",
    [ids],
  );
  return rows;
}

describe("a bounded budget per call, and bulkheads", () => {
  it("serves a learner nobody holds while 150 held learners wait, and answers every held call within its budget with nothing applied", async () => {
    const before = await progressOf(held);
    const sessions: pg.Client[] = [];
    try {
      for (let i = 0; i < HELD; i += PER_SESSION) {
        const session = new pg.Client({ connectionString: database.url });
        await session.connect();
        sessions.push(session);
        await session.query("begin");
        await session.query("select 1 from specialization_progress where student_id = any($1) for update", [
          held.slice(i, i + PER_SESSION),
        ]);
      }
      let answered = 0;
      const calls = held.map(async (userId) => {
        const started = performance.now();
        try {
          await coupler.levelUp({ userId, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
          return { userId, error: undefined as unknown, ms: performance.now() - started };
        } catch (error) {
          return { userId, error, ms: performance.now() - started };
        } finally {
          answered++;
        }
      });
      // The held calls now occupy every lock-wait connection the bulkhead allows (half the pool).
      await waitForLockWaiters(database, { count: 10 });
      // And the rest found their rows held (NOWAIT) and gave their connections back: none waits for the pool.
      while (database.pool.waitingCount > 0 || database.pool.idleCount === 0) await sleep(5);

      await coupler.levelUp({ userId: free, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      const state = await coupler.get({ userId: free, specialization: "PLAYER" });
      expect(state.progress.totalXp).toBe(10);
      // Served while the held learners still wait: not one of their calls had an answer yet.
      expect(answered).toBe(0);
      // The bulkhead: no more than half the pool's connections wait on the held rows.
      expect((await waitForLockWaiters(database)).length).toBeLessThanOrEqual(10);

      const results = await Promise.all(calls);
      for (const { userId, error, ms } of results) {
        expect(isCouplerError(error), `user ${userId}: ${String(error)}`).toBe(true);
        if (!isCouplerError(error)) continue;
        expect(["LOCK_TIMEOUT", "UNAVAILABLE"]).toContain(error.code);
        expect(error.retryable).toBe(true);
        expect(error.message).not.toMatch(/may be unknown/);
        // Within its budget (plus the event loop's slack), not the pool's 10 s connection timeout on top.
        expect(ms).toBeLessThan(LOCK_TIMEOUT_MS + 1_000);
      }
    } finally {
      for (const session of sessions) await session.end();
    }
    expect(await progressOf(held)).toEqual(before);
  }, 60_000);

  it("fails a call that got no connection within its budget as retryable UNAVAILABLE, nothing applied, and leaks no client", async () => {
    const small = createDatabase({ connectionString: database.url, max: 1 });
    try {
      const starved = createCoupler({ ...database, pool: small.pool }, { lockTimeoutMs: 200 });
      const before = await progressOf([free]);
      const hog = await small.pool.connect();
      let error: unknown;
      try {
        await starved.levelUp({ userId: free, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      } catch (caught) {
        error = caught;
      } finally {
        hog.release();
      }
      expect(isCouplerError(error) && error.code).toBe("UNAVAILABLE");
      expect(isCouplerError(error) && error.retryable).toBe(true);
      expect(String((error as Error).message)).toMatch(/no database connection within \d+ ms; nothing was applied/);
      expect(String((error as Error).message)).not.toMatch(/may be unknown/);
      expect(await progressOf([free])).toEqual(before);
      // The abandoned request's client went straight back: the pool's one client is idle, and serves the next call.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect({ total: small.pool.totalCount, idle: small.pool.idleCount, waiting: small.pool.waitingCount }).toEqual({
        total: 1,
        idle: 1,
        waiting: 0,
      });
      await starved.levelUp({ userId: free, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
    } finally {
      await small.close();
    }
  });
});
