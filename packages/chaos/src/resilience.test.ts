import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CouplerFaults, createDatabase, type Database, migrate } from "@coupler/core";
import { adminQuery, type RunningPostgres, startEmbeddedPostgres, withDatabase } from "@coupler/embedded";
import { expectCouplerError, useTestDatabase } from "@coupler/testing/vitest";
import {
  auditRows,
  backendPid,
  createCoupler,
  createUsers,
  pairRows,
  snapshotTables,
  terminateBackend,
  type TestDatabase,
} from "@coupler/testing";
import { startCommitDropProxy } from "./commitDropProxy.ts";

let database: TestDatabase;

beforeAll(async () => {
  database = await useTestDatabase();
});
afterAll(() => database.drop());

/** Pool of its own (so its counts are this test's), closed afterwards. */
async function withOwnPool<T>(url: string, fn: (db: Database) => Promise<T>): Promise<T> {
  const own = createDatabase({ connectionString: url, max: 3, connectionTimeoutMillis: 5_000 });
  try {
    return await fn(own);
  } finally {
    await own.close();
  }
}

/** Clients checked out of the pool and callers waiting for one; both 0 when nothing leaked. */
function leaks(db: Database) {
  return { checkedOut: db.pool.totalCount - db.pool.idleCount, waiting: db.pool.waitingCount };
}

async function enrolled(db: Database): Promise<number> {
  const [id = 0] = await createUsers(db, 1);
  await createCoupler(db).enroll({ userId: id, specialization: "PLAYER" });
  return id;
}

const killOwnBackend = (client: Parameters<NonNullable<CouplerFaults["beforeCommit"]>>[0]) =>
  terminateBackend(database, backendPid(client));

describe("faults inside a coupler transaction", () => {
  it("a backend killed mid-transaction, with the pair locked, leaves both rows untouched, and the pool keeps serving", async () => {
    await withOwnPool(database.url, async (own) => {
      const id = await enrolled(own);
      const before = await snapshotTables(own);
      const broken = createCoupler(own, { faults: { midTransaction: killOwnBackend } });
      // More failures than the pool has clients: a leak would exhaust it.
      for (let i = 0; i < 4; i++) {
        await expectCouplerError(
          broken.levelUp({
            userId: id,
            specialization: "PLAYER",
            xpGained: 350,
            sessionsCompleted: 1,
            idempotencyKey: `kill-mid-${i}`,
          }),
          "UNAVAILABLE",
        );
        expect(leaks(own)).toEqual({ checkedOut: 0, waiting: 0 });
      }
      expect(await snapshotTables(own)).toEqual(before);
      const healthy = createCoupler(own);
      await healthy.levelUp({
        userId: id,
        specialization: "PLAYER",
        xpGained: 350,
        sessionsCompleted: 1,
        idempotencyKey: "kill-mid-0",
      });
      expect(await pairRows(own, id)).toMatchObject({ progressLevel: 3, licenseLevel: 3, totalXp: 350 });
      expect(leaks(own)).toEqual({ checkedOut: 0, waiting: 0 });
    });
  });

  it("a backend killed while the transaction's client sits between two statements does not crash the process (regression: unhandled 'error' on a checked-out client)", async () => {
    await withOwnPool(database.url, async (own) => {
      const id = await enrolled(own);
      // Killed from outside while no query runs: the error arrives as an event on the client, not as a query failure.
      const idleKill: CouplerFaults = {
        midTransaction: async (client) => {
          await terminateBackend(database, backendPid(client));
          await new Promise((resolve) => setTimeout(resolve, 100));
        },
      };
      await expectCouplerError(
        createCoupler(own, { faults: idleKill }).levelUp({
          userId: id,
          specialization: "PLAYER",
          xpGained: 350,
          sessionsCompleted: 1,
          idempotencyKey: "idle-kill",
        }),
        "UNAVAILABLE",
      );
      expect(leaks(own)).toEqual({ checkedOut: 0, waiting: 0 });
      expect(await pairRows(own, id)).toMatchObject({ totalXp: 0, progressLevel: 1, licenseLevel: 1 });
      await createCoupler(own).levelUp({
        userId: id,
        specialization: "PLAYER",
        xpGained: 350,
        sessionsCompleted: 1,
        idempotencyKey: "idle-kill",
      });
      expect(await pairRows(own, id)).toMatchObject({ totalXp: 350, progressLevel: 3, licenseLevel: 3 });
    });
  });

  it("a FATAL that arrives in the same packet as a new connection's startup does not crash the process (regression: no listener between checkout and runTransaction's)", async () => {
    const proxy = await startCommitDropProxy(database.url);
    const own = createDatabase({ connectionString: proxy.url, max: 2, connectionTimeoutMillis: 5_000 });
    try {
      const failed = proxy.failNextConnectOnReady();
      await expectCouplerError(createCoupler(own).get({ userId: 1, specialization: "PLAYER" }), "UNAVAILABLE");
      await failed;
      expect(leaks(own)).toEqual({ checkedOut: 0, waiting: 0 });
      const id = await enrolled(own);
      expect((await createCoupler(own).get({ userId: id, specialization: "PLAYER" })).license.currentLevel).toBe(1);
    } finally {
      await own.close();
      await proxy.close();
    }
  });

  it("a connection dropped just before COMMIT rolls back; retrying the same key applies it exactly once", async () => {
    await withOwnPool(database.url, async (own) => {
      const id = await enrolled(own);
      const broken = createCoupler(own, { faults: { beforeCommit: killOwnBackend } });
      await expectCouplerError(
        broken.levelUp({
          userId: id,
          specialization: "PLAYER",
          xpGained: 120,
          sessionsCompleted: 1,
          idempotencyKey: "drop-before-commit",
        }),
        "UNAVAILABLE",
      );
      expect(await pairRows(own, id)).toMatchObject({ totalXp: 0 });
      const healthy = createCoupler(own);
      const first = await healthy.levelUp({
        userId: id,
        specialization: "PLAYER",
        xpGained: 120,
        sessionsCompleted: 1,
        idempotencyKey: "drop-before-commit",
      });
      const again = await healthy.levelUp({
        userId: id,
        specialization: "PLAYER",
        xpGained: 120,
        sessionsCompleted: 1,
        idempotencyKey: "drop-before-commit",
      });
      expect(first.replayed).toBe(false);
      expect(again).toMatchObject({ replayed: true, totalXp: 120 });
      expect((await auditRows(own, id)).filter((r) => r.idempotency_key === "drop-before-commit")).toHaveLength(1);
      expect(leaks(own)).toEqual({ checkedOut: 0, waiting: 0 });
    });
  });

  it("a COMMIT whose reply is lost did commit; the same idempotency key resolves it to exactly one effect", async () => {
    const proxy = await startCommitDropProxy(database.url);
    try {
      await withOwnPool(proxy.url, async (own) => {
        const id = await enrolled(own);
        const coupler = createCoupler(own);
        const dropped = proxy.dropNextCommitReply();
        const error = await expectCouplerError(
          coupler.levelUp({
            userId: id,
            specialization: "PLAYER",
            xpGained: 120,
            sessionsCompleted: 2,
            idempotencyKey: "lost-commit-reply",
          }),
          "UNAVAILABLE",
        );
        await dropped;
        expect(error.message).toMatch(/outcome may be unknown/);
        expect(leaks(own)).toEqual({ checkedOut: 0, waiting: 0 });
        // The client cannot know; the retry tells it: the first attempt was applied.
        const retry = await coupler.levelUp({
          userId: id,
          specialization: "PLAYER",
          xpGained: 120,
          sessionsCompleted: 2,
          idempotencyKey: "lost-commit-reply",
        });
        expect(retry).toMatchObject({ replayed: true, totalXp: 120, newLevel: 2 });
        expect(await pairRows(own, id)).toMatchObject({
          totalXp: 120,
          completedSessions: 2,
          progressLevel: 2,
          licenseLevel: 2,
        });
        expect((await auditRows(own, id)).filter((r) => r.idempotency_key === "lost-commit-reply")).toHaveLength(1);
      });
    } finally {
      await proxy.close();
    }
  });

  it("a statement timeout mid-transaction is UNAVAILABLE, writes nothing and leaves the connection reusable", async () => {
    const own = createDatabase({ connectionString: database.url, max: 1, statementTimeoutMs: 50 });
    try {
      const id = await enrolled(own);
      const slow = createCoupler(own, {
        faults: { midTransaction: (client) => client.query("select pg_sleep(0.2)").then(() => {}) },
      });
      await expectCouplerError(
        slow.levelUp({
          userId: id,
          specialization: "PLAYER",
          xpGained: 350,
          sessionsCompleted: 1,
          idempotencyKey: "timed-out",
        }),
        "UNAVAILABLE",
      );
      expect(leaks(own)).toEqual({ checkedOut: 0, waiting: 0 });
      // The one pooled connection is out of the failed transaction and back at the default lock_timeout.
      const { rows } = await own.pool.query<{ lock_timeout: string }>("show lock_timeout");
      expect(rows[0]?.lock_timeout).toBe("0");
      await createCoupler(own).levelUp({
        userId: id,
        specialization: "PLAYER",
        xpGained: 350,
        sessionsCompleted: 1,
        idempotencyKey: "timed-out",
      });
      expect(await pairRows(own, id)).toMatchObject({ totalXp: 350, progressLevel: 3, licenseLevel: 3 });
    } finally {
      await own.close();
    }
  });
});

describe("a database restart", () => {
  let server: RunningPostgres;
  let url: string;

  beforeAll(async () => {
    server = await startEmbeddedPostgres({ fast: true });
    await adminQuery(server.url, "CREATE DATABASE resilience");
    url = withDatabase(server.url, "resilience");
    await migrate(url);
  }, 60_000);
  afterAll(() => server.stop());

  it("drops every pooled connection; the pool reconnects and the coupler keeps serving without losing a write", async () => {
    await withOwnPool(url, async (own) => {
      const id = await enrolled(own);
      const coupler = createCoupler(own);
      await Promise.all(
        [1, 2, 3].map((n) =>
          coupler.levelUp({
            userId: id,
            specialization: "PLAYER",
            xpGained: 100,
            sessionsCompleted: 1,
            idempotencyKey: `before-restart-${n}`,
          }),
        ),
      );
      expect(own.pool.idleCount).toBeGreaterThan(0);
      await server.restart();
      // Calls on connections that died with the old server fail as UNAVAILABLE; retry each key until it answers.
      const results = [];
      for (const n of [1, 2, 3, 4]) {
        for (let attempt = 0; ; attempt++) {
          try {
            results.push(
              await coupler.levelUp({
                userId: id,
                specialization: "PLAYER",
                xpGained: 100,
                sessionsCompleted: 1,
                idempotencyKey: `after-restart-${n}`,
              }),
            );
            break;
          } catch (error) {
            if (attempt >= 5) throw error;
            expect((error as { code?: unknown }).code).toBe("UNAVAILABLE");
          }
        }
      }
      expect(results.map((r) => r.replayed)).toEqual([false, false, false, false]);
      expect(await pairRows(own, id)).toMatchObject({
        totalXp: 700,
        completedSessions: 7,
        progressLevel: 4,
        licenseLevel: 4,
      });
      expect(leaks(own)).toEqual({ checkedOut: 0, waiting: 0 });
    });
  });
});
