import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { purgeExpiredIdempotencyKeys, type LevelUpResult, type ProgressLicenseCoupler } from "@coupler/core";
import { expectCallsMet, expectCouplerError, useTestDatabase } from "../../src/vitest.ts";
import {
  auditRows,
  COMBINING_MODES,
  couplerHeldBeforeCommit,
  createCoupler,
  enrolledUser,
  enrolledUsers,
  pairRows,
  recordingObserver,
  snapshotTables,
  type TestDatabase,
  waitForLockWaiters,
  withSession,
} from "../../src/index.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase();
  coupler = createCoupler(database, { lockTimeoutMs: 20_000 });
});
afterAll(() => database.drop());

const key = () => `key-${randomUUID()}`;
/** A level-up's input carrying an idempotency key. */
const keyed = (
  userId: number,
  xpGained: number,
  sessionsCompleted: number,
  idempotencyKey: string,
  specialization = "PLAYER",
) => ({ userId, specialization, xpGained, sessionsCompleted, idempotencyKey });
const withoutReplayFlag = ({ replayed: _replayed, ...rest }: LevelUpResult) => rest;

async function storedKeys(idempotencyKey: string) {
  const { rows } = await database.pool.query("select user_id from idempotency_keys where key = $1", [idempotencyKey]);
  return rows;
}

describe("idempotent level-ups", () => {
  it("a repeated key returns the first result with replayed: true and applies once", async () => {
    const id = await enrolledUser(database, coupler);
    const k = key();
    const first = await coupler.levelUp(keyed(id, 350, 2, k));
    const before = await snapshotTables(database);
    const second = await coupler.levelUp(keyed(id, 350, 2, k));
    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect(withoutReplayFlag(second)).toEqual(withoutReplayFlag(first));
    expect(await snapshotTables(database)).toEqual(before);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 350, completedSessions: 2, progressLevel: 3 });
    expect(await auditRows(database, id)).toEqual([
      expect.objectContaining({ operation: "enroll" }),
      expect.objectContaining({ operation: "levelUp", outcome: "applied", idempotency_key: k }),
    ]);
  });

  it("the same key with a different payload is refused with VALIDATION", async () => {
    const id = await enrolledUser(database, coupler);
    const k = key();
    await coupler.levelUp(keyed(id, 100, 1, k));
    const before = await snapshotTables(database);
    const error = await expectCouplerError(coupler.levelUp(keyed(id, 200, 1, k)), "VALIDATION");
    expect(error.message).toContain("already used for a different request");
    expect(await snapshotTables(database)).toEqual(before);
  });

  describe.each(COMBINING_MODES)("write combining $mode", ({ combining }) => {
    it("the same key sent 10 times concurrently has exactly one effect, and every caller gets the same result", async () => {
      const id = await enrolledUser(database, coupler);
      const observer = recordingObserver();
      const concurrent = createCoupler(database, { lockTimeoutMs: 20_000, combining, observer });
      const k = key();
      const results = await Promise.all(Array.from({ length: 10 }, () => concurrent.levelUp(keyed(id, 120, 1, k))));
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      const expected = { previousLevel: 1, newLevel: 2, totalXp: 120, completedSessions: 1, leveledUp: true };
      for (const result of results) expect(result).toMatchObject(expected);
      expect(await pairRows(database, id)).toMatchObject({ totalXp: 120, completedSessions: 1 });
      expect((await auditRows(database, id)).filter((a) => a.operation === "levelUp")).toHaveLength(1);
      expect(await storedKeys(k)).toHaveLength(1);
      expectCallsMet(observer.events, combining);
    });
  });

  it("the same key for another learner is another key: both apply, sent together", async () => {
    const [a = 0, b = 0] = await enrolledUsers(database, coupler, 2);
    const k = key();
    const [first, second] = await Promise.all([
      coupler.levelUp(keyed(a, 100, 1, k)),
      coupler.levelUp(keyed(b, 150, 1, k)),
    ]);
    expect([first.replayed, second.replayed]).toEqual([false, false]);
    expect(await pairRows(database, a)).toMatchObject({ totalXp: 100 });
    expect(await pairRows(database, b)).toMatchObject({ totalXp: 150 });
    expect(await storedKeys(k)).toHaveLength(2);
  });

  it("the same key for another specialization of the same learner is another key", async () => {
    const id = await enrolledUser(database, coupler);
    await coupler.enroll({ userId: id, specialization: "COACH" });
    const k = key();
    await coupler.levelUp(keyed(id, 100, 1, k));
    const coach = await coupler.levelUp(keyed(id, 100, 1, k, "COACH"));
    expect(coach).toMatchObject({ replayed: false, totalXp: 100 });
  });

  it("another caller sending the same key gets its own application, not a replay or a refusal", async () => {
    const id = await enrolledUser(database, coupler);
    const k = key();
    const byA = await coupler.levelUp(keyed(id, 100, 1, k), { actor: "instructor:7" });
    const byB = await coupler.levelUp(keyed(id, 200, 1, k), { actor: "instructor:8" });
    expect(byA).toMatchObject({ replayed: false, totalXp: 100 });
    expect(byB).toMatchObject({ replayed: false, totalXp: 300 });
    // Each caller's key replays its own result, and refuses its own reuse for another request.
    expect(await coupler.levelUp(keyed(id, 100, 1, k), { actor: "instructor:7" })).toMatchObject({
      replayed: true,
      totalXp: 100,
    });
    expect(await coupler.levelUp(keyed(id, 200, 1, k), { actor: "instructor:8" })).toMatchObject({
      replayed: true,
      totalXp: 300,
    });
    await expectCouplerError(coupler.levelUp(keyed(id, 999, 1, k), { actor: "instructor:7" }), "VALIDATION");
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 300, completedSessions: 2 });
    const { rows } = await database.pool.query("select caller from idempotency_keys where key = $1 order by caller", [
      k,
    ]);
    expect(rows).toEqual([{ caller: "instructor:7" }, { caller: "instructor:8" }]);
  });

  it('a call without an actor is the caller "system"', async () => {
    const id = await enrolledUser(database, coupler);
    const k = key();
    await coupler.levelUp(keyed(id, 100, 1, k));
    expect(await coupler.levelUp(keyed(id, 100, 1, k), { actor: "system" })).toMatchObject({ replayed: true });
    const { rows } = await database.pool.query("select caller from idempotency_keys where key = $1", [k]);
    expect(rows).toEqual([{ caller: "system" }]);
  });

  it("when a replay races past the pair lock to store the same key, it retries past the unique violation and replays", async () => {
    const id = await enrolledUser(database, coupler);
    const k = key();
    // A stops before COMMIT with the key inserted; B, the same request, waits on A's pair lock.
    const a = couplerHeldBeforeCommit(database);
    const observer = recordingObserver();
    const other = createCoupler(database, { observer, lockTimeoutMs: 20_000 });
    const first = a.coupler.levelUp(keyed(id, 100, 1, k));
    const aPid = await a.held;
    const second = other.levelUp(keyed(id, 100, 1, k));
    await waitForLockWaiters(database, { blockedBy: aPid });
    a.release();
    expect(await first).toMatchObject({ replayed: false, totalXp: 100 });
    // B's lock statement read the key table before A committed; its insert then met A's key.
    expect(await second).toMatchObject({ replayed: true, totalXp: 100 });
    expect(observer.events[0]).toMatchObject({ outcome: "replayed", retries: 1 });
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 100, completedSessions: 1 });
  });
});

describe("idempotency key retention", () => {
  const age = (k: string, interval: string) =>
    database.pool.query(`update idempotency_keys set created_at = now() - $2::interval where key = $1`, [k, interval]);

  it("a key older than the retention is not replayed, even before the purge: the call applies again and stores the key afresh", async () => {
    const id = await enrolledUser(database, coupler);
    const k = key();
    await coupler.levelUp(keyed(id, 100, 1, k));
    await age(k, "25 hours");
    const again = await coupler.levelUp(keyed(id, 100, 1, k));
    expect(again).toMatchObject({ replayed: false, totalXp: 200 });
    const { rows } = await database.pool.query<{ fresh: boolean }>(
      "select created_at > now() - interval '1 minute' as fresh from idempotency_keys where key = $1",
      [k],
    );
    expect(rows).toEqual([{ fresh: true }]);
    expect(await coupler.levelUp(keyed(id, 100, 1, k))).toMatchObject({ replayed: true, totalXp: 200 });
  });

  it("the retention is the coupler's idempotencyRetentionMs: a 2-hour-old key replays under 24 h, not under 1 h", async () => {
    const id = await enrolledUser(database, coupler);
    const k = key();
    await coupler.levelUp(keyed(id, 100, 1, k));
    await age(k, "2 hours");
    expect(await coupler.levelUp(keyed(id, 100, 1, k))).toMatchObject({ replayed: true, totalXp: 100 });
    const hourly = createCoupler(database, { idempotencyRetentionMs: 60 * 60 * 1000 });
    expect(await hourly.levelUp(keyed(id, 100, 1, k))).toMatchObject({ replayed: false, totalXp: 200 });
  });

  it("the purge deletes expired keys in batches, skips keys a transaction holds, and never waits on a writer of another pair", async () => {
    const [old = 0, writer = 0] = await enrolledUsers(database, coupler, 2);
    const expired = Array.from({ length: 23 }, key);
    for (const k of expired) await coupler.levelUp(keyed(old, 10, 0, k));
    const fresh = key();
    await coupler.levelUp(keyed(old, 10, 0, fresh));
    await database.pool.query(
      "update idempotency_keys set created_at = now() - interval '3 days' where key = any($1)",
      [expired],
    );

    // A level-up of another pair, stopped before COMMIT with its rows locked and its key stored.
    const holding = couplerHeldBeforeCommit(database);
    const write = holding.coupler.levelUp(keyed(writer, 100, 1, key()));
    await holding.held;

    // And a session holding one expired key row, as a coupler call replacing it would.
    const [heldKey = ""] = expired;
    const purged = await withSession(database, async (session) => {
      await session.query("begin");
      await session.query("select 1 from idempotency_keys where key = $1 for update", [heldKey]);
      try {
        return await purgeExpiredIdempotencyKeys(database.pool, { batchSize: 5 });
      } finally {
        await session.query("rollback");
      }
    });
    expect(purged).toBe(22);
    holding.release();
    expect(await write).toMatchObject({ replayed: false, totalXp: 100 });

    const { rows } = await database.pool.query<{ key: string }>(
      "select key from idempotency_keys where user_id = $1 order by key",
      [old],
    );
    expect(rows.map((r) => r.key).sort()).toEqual([heldKey, fresh].sort());
    expect(await purgeExpiredIdempotencyKeys(database.pool)).toBe(1);
    expect(await purgeExpiredIdempotencyKeys(database.pool)).toBe(0);
  });

  it("refuses a nonsensical batch size or retention", async () => {
    await expect(purgeExpiredIdempotencyKeys(database.pool, { batchSize: 0 })).rejects.toThrow(RangeError);
    await expect(purgeExpiredIdempotencyKeys(database.pool, { retentionMs: Number.NaN })).rejects.toThrow(RangeError);
  });
});
