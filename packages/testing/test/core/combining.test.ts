import fc from "fast-check";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  isCouplerError,
  type CallOptions,
  type CouplerFaults,
  type CouplerOptions,
  type OperationEvent,
  type ProgressLicenseCoupler,
} from "@coupler/core";
import { expectCouplerError, useTestDatabase } from "../../src/vitest.ts";
import {
  backendPid,
  createCoupler,
  createUsers,
  enrolledUsers,
  pairRows,
  rawTransaction,
  recordingObserver,
  snapshotTables,
  terminateBackend,
  waitForLockWaiters,
  whilePairLocked,
  type TestDatabase,
} from "../../src/index.ts";

let database: TestDatabase;

beforeAll(async () => {
  database = await useTestDatabase();
});
afterAll(() => database.drop());

/** One write on a pair, as a test sequence holds it. */
type Op =
  | { kind: "levelUp"; xp: number; sessions: number; key?: string | undefined; actor: string }
  | { kind: "advance"; newLevel: number; xp: number; actor: string }
  | { kind: "sync"; source: "progress" | "license"; actor: string };

function send(coupler: ProgressLicenseCoupler, userId: number, op: Op): Promise<unknown> {
  const call: CallOptions = { actor: op.actor };
  const specialization = "PLAYER";
  switch (op.kind) {
    case "levelUp":
      return coupler.levelUp(
        { userId, specialization, xpGained: op.xp, sessionsCompleted: op.sessions, idempotencyKey: op.key },
        call,
      );
    case "advance":
      return coupler.advance({ userId, specialization, newLevel: op.newLevel, reason: "admin", xpChange: op.xp }, call);
    case "sync":
      return coupler.sync({ userId, specialization, source: op.source }, call);
  }
}

/** What a caller saw, with the learner's id taken out so two learners' runs compare. */
async function seen(userId: number, call: Promise<unknown>): Promise<unknown> {
  const strip = (text: string) => text.replaceAll(`user ${userId}`, "user #");
  try {
    const result = (await call) as Record<string, unknown>;
    return { ok: { ...result, userId: "#" } };
  } catch (error) {
    if (!isCouplerError(error)) throw error;
    return { error: { code: error.code, message: strip(error.message) } };
  }
}

/** Everything the coupler wrote for a learner, without ids and timestamps. */
async function footprint(userId: number) {
  const q = async (text: string) => (await database.pool.query(text, [userId])).rows;
  return {
    pair: await pairRows(database, userId).then(({ licenseId: _id, ...rest }) => rest),
    history: await q(
      "select from_level, to_level, reason, actor from license_progressions where user_id = $1 order by id",
    ),
    audit: await q(
      "select operation, xp_delta, sessions_delta, from_level, to_level, actor, idempotency_key, outcome from coupler_audit_log where user_id = $1 order by id",
    ),
    // The request hash and the stored response name the learner: the hash is left out, the response's id masked.
    keys: (
      await q("select key, operation, caller, response from idempotency_keys where user_id = $1 order by key, caller")
    ).map((k) => ({
      ...k,
      response: { ...k.response, userId: "#" },
    })),
  };
}

/** A learner enrolled in PLAYER; `desync` puts the progress a level above the license first, so a sync has work to do. */
async function learner(coupler: ProgressLicenseCoupler, desync: boolean): Promise<number> {
  const [id = 0] = await enrolledUsers(database, coupler, 1);
  if (desync)
    await database.pool.query("update specialization_progress set current_level = 2 where student_id = $1", [id]);
  return id;
}

/**
 * Runs `ops` on one learner one at a time (combining off) and on another all
 * at once behind a held lock (combining on, at most `maxBatchSize` calls a
 * transaction), and returns both runs' results and footprints.
 */
async function differential(ops: Op[], options: { maxBatchSize: number; desync: boolean; citus?: boolean }) {
  const serial = createCoupler(database, { combining: { enabled: false } });
  const events = recordingObserver();
  const transactions = { count: 0 };
  const combined = combiningCoupler({
    combining: { maxBatchSize: options.maxBatchSize },
    citus: options.citus ?? false,
    observer: events,
    faults: { beforeBegin: async () => void transactions.count++ },
  });
  const a = await learner(serial, options.desync);
  const b = await learner(serial, options.desync);

  const serialSeen: unknown[] = [];
  for (const op of ops) serialSeen.push(await seen(a, send(serial, a, op)));

  const combinedSeen = await whilePairLocked(database, b, async () => {
    const [head, ...rest] = ops;
    if (!head) return [];
    const first = seen(b, send(combined, b, head));
    // Regression: a first call refused before its transaction (an advance above the maximum) never waits on the lock.
    await waitingOrSettled(first);
    // The rest queue in memory behind the first call's transaction, in this order.
    const others = rest.map((op) => seen(b, send(combined, b, op)));
    return [first, ...others];
  }).then((calls) => Promise.all(calls));
  return {
    serialSeen,
    combinedSeen,
    serial: await footprint(a),
    combined: await footprint(b),
    transactions: transactions.count,
    events: events.events,
  };
}

/** A coupler with write combining on (core's default), whatever COUPLER_WRITE_COMBINING the suite runs under. */
function combiningCoupler(options: Partial<CouplerOptions> = {}): ProgressLicenseCoupler {
  return createCoupler(database, { ...options, combining: { enabled: true, ...options.combining } });
}

/** Until a backend of the test database waits on a lock, or `call` has settled (it never reached the lock). */
async function waitingOrSettled(call: Promise<unknown>): Promise<void> {
  let settled = false;
  void call.finally(() => (settled = true));
  while (!settled) {
    const { rows } = await database.pool.query<{ n: number }>(
      "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
    );
    if ((rows[0]?.n ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const actors = ["alice", "bob"] as const;
const keys = ["key-000001", "key-000002", "key-000003"] as const;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("levelUp" as const),
      xp: fc.integer({ min: 0, max: 400 }),
      sessions: fc.integer({ min: 0, max: 3 }),
      key: fc.option(fc.constantFrom(...keys), { nil: undefined }),
      actor: fc.constantFrom(...actors),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      // PLAYER's maximum is 10: 11 fails validation before the call queues.
      newLevel: fc.integer({ min: 1, max: 11 }),
      xp: fc.integer({ min: 0, max: 50 }),
      actor: fc.constantFrom(...actors),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("sync" as const),
      source: fc.constantFrom("progress" as const, "license" as const),
      actor: fc.constantFrom(...actors),
    }),
  },
);

describe("write combining: each caller sees what it would have seen alone", () => {
  it("a fixed sequence leaves the same rows, history, audit, keys and per-call results combined as serial", async () => {
    const ops: Op[] = [
      { kind: "levelUp", xp: 150, sessions: 1, key: "key-000001", actor: "alice" },
      { kind: "levelUp", xp: 150, sessions: 1, key: "key-000001", actor: "alice" }, // replay in the same batch
      { kind: "levelUp", xp: 999, sessions: 1, key: "key-000001", actor: "alice" }, // same key, other payload: VALIDATION
      { kind: "levelUp", xp: 999, sessions: 1, key: "key-000001", actor: "bob" }, // another caller's key space
      { kind: "sync", source: "progress", actor: "alice" },
      { kind: "advance", newLevel: 11, xp: 0, actor: "alice" }, // above the maximum: VALIDATION, before the queue
      { kind: "advance", newLevel: 7, xp: 10, actor: "bob" },
      { kind: "advance", newLevel: 7, xp: 0, actor: "bob" }, // a no-op
      { kind: "levelUp", xp: 300, sessions: 2, actor: "alice" },
      { kind: "sync", source: "license", actor: "alice" },
    ];
    const run = await differential(ops, { maxBatchSize: 64, desync: true });
    expect(run.combinedSeen).toEqual(run.serialSeen);
    expect(run.combined).toEqual(run.serial);
    // The first call alone, then the nine others (the refused advance never queued) in one transaction.
    expect(run.transactions).toBe(2);
    expect(run.serialSeen.filter((s) => (s as { error?: unknown }).error)).toHaveLength(2);
    expect(run.combined.history.length).toBeGreaterThan(0);
  });

  it("with the Citus statement shape (VALUES rows instead of arrays), random sequences leave the same footprint and results combined as serial (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 2, maxLength: 12 }),
        fc.integer({ min: 2, max: 5 }),
        fc.boolean(),
        async (ops, maxBatchSize, desync) => {
          const run = await differential(ops, { maxBatchSize, desync, citus: true });
          expect(run.combinedSeen).toEqual(run.serialSeen);
          expect(run.combined).toEqual(run.serial);
        },
      ),
      { numRuns: 10 },
    );
  }, 180_000);

  it("random sequences, payloads, keys and batch sizes leave the same footprint and results combined as serial (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        async (ops, maxBatchSize, desync) => {
          const run = await differential(ops, { maxBatchSize, desync });
          expect(run.combinedSeen).toEqual(run.serialSeen);
          expect(run.combined).toEqual(run.serial);
        },
      ),
      {
        numRuns: 25,
        // Regression: a first call refused before the queue left the harness waiting for a lock waiter.
        examples: [
          [
            [
              { kind: "advance", newLevel: 11, xp: 0, actor: "alice" },
              { kind: "sync", source: "progress", actor: "alice" },
            ],
            1,
            false,
          ],
        ],
      },
    );
  }, 180_000);

  it("runs a queue of calls as one transaction of four round trips, and a lone call in four as well", async () => {
    const statements = { count: 0 };
    const counted = new WeakSet<pg.PoolClient>();
    const faults: CouplerFaults = {
      beforeBegin: async (client) => {
        if (counted.has(client)) return;
        counted.add(client);
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        (client as { query: unknown }).query = (...args: unknown[]) => {
          statements.count++;
          return query(...args);
        };
      },
    };
    const coupler = combiningCoupler({ faults });
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    statements.count = 0;
    await coupler.levelUp({
      userId: id,
      specialization: "PLAYER",
      xpGained: 10,
      sessionsCompleted: 1,
      idempotencyKey: "key-lone-call",
    });
    expect(statements.count).toBe(4);

    const results = await whilePairLocked(database, id, async () => {
      const first = coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      await waitForLockWaiters(database);
      statements.count = 0;
      const rest = Array.from({ length: 20 }, (_, i) =>
        coupler.levelUp({
          userId: id,
          specialization: "PLAYER",
          xpGained: 10,
          sessionsCompleted: 1,
          idempotencyKey: `key-queued-${i}`,
        }),
      );
      return [first, ...rest];
    }).then((calls) => Promise.all(calls));
    // The first call's transaction was already under way (BEGIN and its lock sent); the twenty queued ones: BEGIN, lock, write, COMMIT.
    expect(statements.count).toBe(4 + 2);
    expect(results.map((r) => r.totalXp)).toEqual(Array.from({ length: 21 }, (_, i) => 20 + 10 * i));
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 220, completedSessions: 22 });
  });

  it("turned off, every call takes its own transaction", async () => {
    const transactions = { count: 0 };
    const coupler = createCoupler(database, {
      combining: { enabled: false },
      faults: { beforeBegin: async () => void transactions.count++ },
    });
    expect(coupler.combining).toBe(false);
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    transactions.count = 0;
    await whilePairLocked(database, id, async () => {
      const calls = Array.from({ length: 5 }, () =>
        coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
      );
      await waitForLockWaiters(database, { count: 5 });
      return calls;
    }).then((calls) => Promise.all(calls));
    expect(transactions.count).toBe(5);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 50 });
  });
});

describe("write combining: bounds and failures", () => {
  it("refuses a call with OVERLOADED (retryable, nothing changed) when the pair's queue is full; the queued calls go on", async () => {
    const coupler = combiningCoupler({ combining: { maxQueuePerPair: 2 } });
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    const award = () => coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
    const { calls, refused } = await whilePairLocked(database, id, async () => {
      const running = award();
      await waitForLockWaiters(database);
      const queued = [award(), award()];
      const error = await expectCouplerError(award(), "OVERLOADED");
      expect(error.retryable).toBe(true);
      expect(error.message).toContain("retry");
      return { calls: [running, ...queued], refused: error };
    });
    expect(refused.code).toBe("OVERLOADED");
    await Promise.all(calls);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 30, completedSessions: 3 });
  });

  it("a backend killed mid-batch fails every call of the batch with UNAVAILABLE and writes nothing", async () => {
    let kills = 0;
    const coupler = combiningCoupler({
      faults: {
        midTransaction: async (client) => {
          // The second transaction is the batch of queued calls.
          if (++kills === 2) await terminateBackend(database, backendPid(client));
        },
      },
    });
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    kills = 0;
    const outcomes = await whilePairLocked(database, id, async () => {
      const first = coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: 1 });
      await waitForLockWaiters(database);
      const rest = Array.from({ length: 4 }, (_, i) =>
        coupler.levelUp({
          userId: id,
          specialization: "PLAYER",
          xpGained: 100,
          sessionsCompleted: 1,
          idempotencyKey: `key-killed-${i}`,
        }),
      );
      return [first, ...rest];
    }).then((calls) => Promise.allSettled(calls));
    expect(outcomes[0]?.status).toBe("fulfilled");
    for (const outcome of outcomes.slice(1)) {
      expect(outcome.status).toBe("rejected");
      expect(outcome.status === "rejected" && (outcome.reason as { code?: unknown }).code).toBe("UNAVAILABLE");
    }
    expect(await pairRows(database, id)).toMatchObject({
      totalXp: 100,
      completedSessions: 1,
      progressLevel: 2,
      licenseLevel: 2,
    });
    const { rows } = await database.pool.query("select count(*)::int as n from idempotency_keys where user_id = $1", [
      id,
    ]);
    expect(rows[0]?.n).toBe(0);
  });

  it("an error that is no call's own splits the batch: each call runs alone and gets what it would have", async () => {
    let failures = 0;
    const coupler = combiningCoupler({
      faults: {
        midTransaction: async () => {
          if (++failures === 2) throw new Error("injected failure of the batch's transaction");
        },
      },
    });
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    failures = 0;
    const results = await whilePairLocked(database, id, async () => {
      const first = coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      await waitForLockWaiters(database);
      return [
        first,
        ...Array.from({ length: 3 }, () =>
          coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
        ),
      ];
    }).then((calls) => Promise.all(calls));
    expect(results.map((r) => r.totalXp)).toEqual([10, 20, 30, 40]);
    expect(failures).toBe(5); // the first call, the failed batch, then three calls alone
  });

  it("every call of a batch on a learner who is not enrolled gets NOT_FOUND, and nothing is written", async () => {
    const coupler = combiningCoupler();
    const [id = 0] = await createUsers(database, 1);
    const before = await snapshotTables(database);
    const calls = Array.from({ length: 4 }, () =>
      coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
    );
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.map((o) => o.status === "rejected" && (o.reason as { code?: unknown }).code)).toEqual(
      Array(4).fill("NOT_FOUND"),
    );
    expect(await snapshotTables(database)).toEqual(before);
  });

  it("a sync queued with level-ups on a pair missing its license rebuilds it, and the level-ups after it apply", async () => {
    const coupler = combiningCoupler();
    const [id = 0] = await createUsers(database, 1);
    // Replica role disables the foreign-key triggers: a progress row at level 3 without its license.
    await rawTransaction(
      database,
      [
        [
          "insert into specialization_progress (student_id, specialization_id, current_level, total_xp) values ($1, 'PLAYER', 3, 300)",
          [id],
        ],
      ],
      { replica: true },
    );
    const results = await whilePairLocked(database, id, async () => {
      const first = seen(
        id,
        coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
      );
      await waitForLockWaiters(database);
      return [
        first,
        seen(id, coupler.sync({ userId: id, specialization: "PLAYER", source: "progress" })),
        seen(id, coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 })),
      ];
    }).then((calls) => Promise.all(calls));
    expect(results[0]).toMatchObject({ error: { code: "NOT_FOUND" } });
    expect(results[1]).toMatchObject({ ok: { changed: true, level: 3 } });
    expect(results[2]).toMatchObject({ ok: { totalXp: 310, newLevel: 3 } });
    expect((await coupler.validate({ userId: id, specialization: "PLAYER" })).consistent).toBe(true);
  });

  it("calls that waited in memory longer than their lock timeout get LOCK_TIMEOUT and change nothing", async () => {
    const transactions = { count: 0 };
    const coupler = combiningCoupler({ faults: { beforeBegin: async () => void transactions.count++ } });
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    transactions.count = 0;
    const award = (lockTimeoutMs: number) =>
      coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }, { lockTimeoutMs });
    const { first, queued } = await whilePairLocked(database, id, async () => {
      const first = award(10_000);
      await waitForLockWaiters(database);
      // Settled at once, so no rejection goes unhandled while they wait; 100 ms is long gone when the pair frees up.
      const queued = Promise.allSettled([award(100), award(100), award(100)]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      return { first, queued };
    });
    await first;
    for (const outcome of await queued) {
      expect(outcome.status).toBe("rejected");
      const reason = (outcome as PromiseRejectedResult).reason as { code?: unknown; message?: string };
      expect(reason.code).toBe("LOCK_TIMEOUT");
      expect(reason.message).toContain("waited behind this process's transactions on the pair");
    }
    // Only the first call's transaction ran: the three timed out in memory, without one of their own.
    expect(transactions.count).toBe(1);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 10 });
  });

  it("a NOWAIT call does not queue: it fails at once while the pair's transaction holds the rows", async () => {
    const coupler = combiningCoupler();
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    await whilePairLocked(database, id, async () => {
      const running = coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      await waitForLockWaiters(database);
      const error = await expectCouplerError(
        coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }, { noWait: true }),
        "LOCK_TIMEOUT",
      );
      expect(error.message).toContain("NOWAIT");
      return { running };
    }).then(({ running }) => running);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 10 });
  });

  it("calls with another lock timeout wait for a batch of their own", async () => {
    const transactions = { count: 0 };
    const coupler = combiningCoupler({ faults: { beforeBegin: async () => void transactions.count++ } });
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    transactions.count = 0;
    await whilePairLocked(database, id, async () => {
      const award = (lockTimeoutMs: number) =>
        coupler.levelUp(
          { userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 },
          { lockTimeoutMs },
        );
      const first = award(5000);
      await waitForLockWaiters(database);
      return [first, award(5000), award(5000), award(4000), award(5000)];
    }).then((calls) => Promise.all(calls));
    // The first; the two of 5000 ms; the one of 4000 ms; the last of 5000 ms.
    expect(transactions.count).toBe(4);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 50 });
  });
});

describe("write combining: contention measured without a second transaction", () => {
  it("reports calls that only queued behind their own process's transaction as contended by the queue, not by a row lock", async () => {
    const observer = recordingObserver();
    const coupler = combiningCoupler({ observer });
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    observer.events.length = 0;
    // Submitted in one tick: the first runs alone on the idle pair, the other three wait in memory for it.
    await Promise.all(
      Array.from({ length: 4 }, () =>
        coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
      ),
    );
    const events: OperationEvent[] = observer.events;
    expect(events.map((e) => [e.contention, e.contended, e.batchSize])).toEqual([
      [undefined, false, 1],
      ["queue", true, 3],
      ["queue", true, 3],
      ["queue", true, 3],
    ]);
  });

  it("reports a queued call as contended by a row lock when another transaction holds the rows as its batch locks them", async () => {
    const observer = recordingObserver();
    const coupler = combiningCoupler({ observer });
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    observer.events.length = 0;
    const award = (call: CallOptions = {}) =>
      coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }, call);
    const queued = await whilePairLocked(database, id, async (holder) => {
      // The pair's transaction in flight gives up on the holder's locks and rolls back; the calls
      // queued behind it then lock the rows in a batch of their own and find them still held.
      const first = award({ lockTimeoutMs: 1000 });
      await waitForLockWaiters(database, { blockedBy: holder.pid });
      const queued = [award(), award()];
      await expectCouplerError(first, "LOCK_TIMEOUT");
      await waitForLockWaiters(database, { blockedBy: holder.pid });
      return queued;
    });
    await Promise.all(queued);
    expect(observer.events.map((e) => [e.contention, e.contended, e.batchSize])).toEqual([
      ["row_lock", true, 1],
      ["row_lock", true, 2],
      ["row_lock", true, 2],
    ]);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 20 });
  });

  it("marks queued calls contended, reports their wait, and needs no retry", async () => {
    const observer = recordingObserver();
    const coupler = combiningCoupler({ observer });
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    observer.events.length = 0;
    await whilePairLocked(database, id, async () => {
      const first = coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      await waitForLockWaiters(database);
      return [
        first,
        ...Array.from({ length: 3 }, () =>
          coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
        ),
      ];
    }).then((calls) => Promise.all(calls));
    const events: OperationEvent[] = observer.events;
    expect(events).toHaveLength(4);
    expect(events.every((e) => e.contended && e.retries === 0 && e.outcome === "applied")).toBe(true);
    // The first found the holder's row locks; the others only waited in memory behind it.
    expect(events.map((e) => e.contention)).toEqual(["row_lock", "queue", "queue", "queue"]);
    expect(events.every((e) => e.lockWaitMs !== undefined && e.lockWaitMs > 0)).toBe(true);
  });
});
