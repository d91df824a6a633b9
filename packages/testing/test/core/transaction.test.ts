import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type Database, runTransaction } from "@coupler/core";
import { expectCouplerError, useTestDatabase } from "../../src/vitest.ts";
import {
  backendPid,
  createCoupler,
  enrolledUser,
  pairRows,
  terminateBackend,
  type TestDatabase,
  withSession,
} from "../../src/index.ts";

let database: TestDatabase;

beforeAll(async () => {
  database = await useTestDatabase();
});
afterAll(() => database.drop());

/** A small pool of its own over the test database, so its counts are the test's alone. */
async function withPool<T>(max: number, fn: (db: Database) => Promise<T>): Promise<T> {
  // A short connect timeout turns a leaked client into an error instead of a hang.
  const own = createDatabase({ connectionString: database.url, max, connectionTimeoutMillis: 5_000 });
  try {
    return await fn(own);
  } finally {
    await own.close();
  }
}

/** Clients out of the pool and callers waiting for one: both 0 when nothing leaked. */
const inUse = (db: Database) => ({ checkedOut: db.pool.totalCount - db.pool.idleCount, waiting: db.pool.waitingCount });

async function pidOf(db: Database): Promise<number> {
  const { rows } = await db.pool.query<{ pid: number }>("select pg_backend_pid() as pid");
  return rows[0]?.pid ?? 0;
}

describe("runTransaction and the pool", () => {
  it("a failed BEGIN (backend terminated before it) does not leak a pool client", async () => {
    const id = await enrolledUser(database, createCoupler(database));
    await withPool(2, async (own) => {
      const coupler = createCoupler(own);
      await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      const baseline = inUse(own);
      expect(baseline).toEqual({ checkedOut: 0, waiting: 0 });
      const broken = createCoupler(own, {
        faults: { beforeBegin: (client) => terminateBackend(database, backendPid(client)) },
      });
      // More failures than the pool has clients: a leak would exhaust it.
      for (let i = 0; i < 4; i++) {
        await expectCouplerError(
          broken.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
          "UNAVAILABLE",
        );
        expect(inUse(own)).toEqual(baseline);
      }
      await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      expect(inUse(own)).toEqual(baseline);
      expect(own.pool.totalCount).toBeGreaterThan(0);
    });
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 20, completedSessions: 2 });
  });

  it("a killed idle pool connection does not crash the process; the pool drops it and keeps serving", async () => {
    await withPool(2, async (own) => {
      expect(own.pool.listenerCount("error")).toBeGreaterThan(0);
      const pid = await pidOf(own);
      expect(own.pool.totalCount).toBe(1);
      await terminateBackend(database, pid);
      // The pool emits 'error' and removes the dead client once the socket reports it.
      while (own.pool.totalCount > 0) await sleep(5);
      const next = await pidOf(own);
      expect(next).not.toBe(pid);
    });
  });

  it("SET LOCAL lock_timeout does not outlive the transaction on a reused connection", async () => {
    const id = await enrolledUser(database, createCoupler(database));
    await withPool(1, async (own) => {
      const { rows: before } = await own.pool.query<{ lock_timeout: string }>("show lock_timeout");
      const pid = await pidOf(own);
      let inside: string | undefined;
      const coupler = createCoupler(own, {
        lockTimeoutMs: 1234,
        faults: {
          beforeCommit: async (client) => {
            inside = (await client.query<{ lock_timeout: string }>("show lock_timeout")).rows[0]?.lock_timeout;
          },
        },
      });
      await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      expect(inside).toBe("1234ms");
      const { rows: after } = await own.pool.query<{ lock_timeout: string }>("show lock_timeout");
      expect(await pidOf(own)).toBe(pid);
      expect(after[0]?.lock_timeout).toBe(before[0]?.lock_timeout);
    });
  });

  it("ROLLBACK after a failed statement leaves the connection usable and out of any transaction", async () => {
    const id = await enrolledUser(database, createCoupler(database));
    await withPool(1, async (own) => {
      const pid = await pidOf(own);
      // The failed insert aborts the transaction; without ROLLBACK every later query would fail (25P02).
      const failing = createCoupler(own, {
        faults: {
          midTransaction: async (client) => {
            await client.query(
              "insert into specialization_progress (student_id, specialization_id) values ($1, 'PLAYER')",
              [id],
            );
          },
        },
      });
      await expectCouplerError(
        failing.levelUp({ userId: id, specialization: "PLAYER", xpGained: 500, sessionsCompleted: 1 }),
        "DB",
      );
      const state = await withSession(database, (s) =>
        s.query<{ state: string }>("select state from pg_stat_activity where pid = $1", [pid]),
      );
      expect(state.rows[0]?.state).toBe("idle");
      expect(await pidOf(own)).toBe(pid);
      expect(
        await createCoupler(own).levelUp({ userId: id, specialization: "PLAYER", xpGained: 500, sessionsCompleted: 1 }),
      ).toMatchObject({ totalXp: 500, newLevel: 3 });
      expect(await pidOf(own)).toBe(pid);
    });
  });

  it("a COMMIT refused by a deferred constraint ends the transaction and returns a usable client", async () => {
    await withPool(1, async (own) => {
      const pid = await pidOf(own);
      const commit = runTransaction(
        own.pool,
        { isolationLevel: "read committed", accessMode: "read write" },
        async (_tx, client) => {
          await client.query(
            "insert into user_licenses (user_id, specialization_type) values ((select min(id) from users), 'INTERNSHIP')",
          );
        },
      );
      await expect(commit).rejects.toMatchObject({ code: "23503", constraint: "user_licenses_progress_fkey" });
      expect(await pidOf(own)).toBe(pid);
    });
  });

  it("refuses a lock timeout that is not a non-negative integer before touching the database", async () => {
    await withPool(1, async (own) => {
      const run = runTransaction(
        own.pool,
        { isolationLevel: "read committed", accessMode: "read write", lockTimeoutMs: 1.5 },
        async () => 1,
      );
      await expect(run).rejects.toThrow(RangeError);
      expect(inUse(own)).toEqual({ checkedOut: 0, waiting: 0 });
    });
  });
});
