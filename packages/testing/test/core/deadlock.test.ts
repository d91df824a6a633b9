/**
 * Real deadlocks (SQLSTATE 40P01) against the coupler's own tables: a raw
 * session locks the license first and then the progress row, the reverse of
 * the coupler's fixed order. PostgreSQL aborts one side; it must be the
 * coupler, which then retries.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type Database, DeadlockError } from "@coupler/core";
import { expectCouplerError, useTestDatabase } from "../../src/vitest.ts";
import {
  createCoupler,
  enrolledUser,
  pairRows,
  recordingObserver,
  type TestDatabase,
  waitForLockWaiters,
  withSession,
} from "../../src/index.ts";

let database: TestDatabase;
// The coupler's pool, on connections that check for deadlocks one second into a
// lock wait (set explicitly; a server may default to less). PostgreSQL checks
// once per wait, so the raw session must close the cycle within that second.
let couplerDb: Database;

beforeAll(async () => {
  database = await useTestDatabase();
  await withSession(database, (s) => s.query(`alter database "${database.name}" set deadlock_timeout = '1s'`));
  couplerDb = createDatabase({ connectionString: database.url, max: 4 });
});
afterAll(async () => {
  await couplerDb.close();
  await database.drop();
});

/**
 * Starts `call` (which locks progress, then license) while a raw session holds
 * the license; once the call is seen waiting, the session asks for the progress
 * row, closing the cycle. The raw session checks for deadlocks only after 10 s,
 * so the coupler's backend is the one that detects it and is aborted.
 */
async function deadlockOnce<T>(userId: number, call: () => Promise<T>): Promise<T | unknown> {
  return withSession(database, async (raw) => {
    await raw.query("set deadlock_timeout = '10s'");
    await raw.query("begin");
    await raw.query("select 1 from user_licenses where user_id = $1 and specialization_type = 'PLAYER' for update", [
      userId,
    ]);
    const pending = call().catch((error: unknown) => error);
    await waitForLockWaiters(database, { blockedBy: raw.pid });
    // Granted once PostgreSQL has aborted the coupler's attempt.
    await raw.query(
      "select 1 from specialization_progress where student_id = $1 and specialization_id = 'PLAYER' for update",
      [userId],
    );
    await raw.query("rollback");
    return pending;
  });
}

describe("deadlock retry", () => {
  it("retries a transaction PostgreSQL aborted with deadlock_detected, and succeeds", async () => {
    const observer = recordingObserver();
    const coupler = createCoupler(couplerDb, { observer, lockTimeoutMs: 20_000 });
    const id = await enrolledUser(couplerDb, coupler);
    const from = observer.events.length;
    const result = await deadlockOnce(id, () =>
      coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: 1 }),
    );
    expect(result).toMatchObject({ totalXp: 100, newLevel: 2, replayed: false });
    expect(observer.events.slice(from)).toEqual([
      expect.objectContaining({ operation: "levelUp", outcome: "applied", deadlocks: 1 }),
    ]);
    expect(observer.events.at(-1)?.retries).toBeGreaterThan(0);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 100, progressLevel: 2, licenseLevel: 2 });
  });

  it("gives up with DEADLOCK (retryable) when the retries are used up, and writes nothing", async () => {
    const observer = recordingObserver();
    const coupler = createCoupler(couplerDb, { observer, lockTimeoutMs: 20_000, maxRetries: 0 });
    const id = await enrolledUser(couplerDb, coupler);
    const error = await expectCouplerError(
      deadlockOnce(id, () =>
        coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: 1 }),
      ).then((outcome) => Promise.reject(outcome)),
      "DEADLOCK",
    );
    expect(error).toBeInstanceOf(DeadlockError);
    expect(error).toMatchObject({ retryable: true, attempts: 1 });
    expect(observer.events.at(-1)).toMatchObject({ outcome: "error", errorCode: "DEADLOCK", retries: 0, deadlocks: 1 });
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 0, progressLevel: 1 });
  });
});
