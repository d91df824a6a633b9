import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LevelUpResult, ProgressLicenseCoupler } from "@coupler/core";
import { expectCouplerError, useTestDatabase } from "../../src/vitest.ts";
import {
  auditRows,
  backendPid,
  createCoupler,
  enrolledUser,
  pairRows,
  recordingObserver,
  snapshotTables,
  type TestDatabase,
  waitForLockWaiters,
} from "../../src/index.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase();
  coupler = createCoupler(database, { lockTimeoutMs: 20_000 });
});
afterAll(() => database.drop());

const key = () => `key-${randomUUID()}`;
const withoutReplayFlag = ({ replayed: _replayed, ...rest }: LevelUpResult) => rest;

async function storedKeys(idempotencyKey: string) {
  const { rows } = await database.pool.query("select user_id from idempotency_keys where key = $1", [idempotencyKey]);
  return rows;
}

describe("idempotent level-ups", () => {
  it("a repeated key returns the first result with replayed: true and applies once", async () => {
    const id = await enrolledUser(database, coupler);
    const k = key();
    const first = await coupler.levelUpAtomic(id, "PLAYER", 350, 2, k);
    const before = await snapshotTables(database);
    const second = await coupler.levelUpAtomic(id, "PLAYER", 350, 2, k);
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
    await coupler.levelUpAtomic(id, "PLAYER", 100, 1, k);
    const before = await snapshotTables(database);
    const error = await expectCouplerError(coupler.levelUpAtomic(id, "PLAYER", 200, 1, k), "VALIDATION");
    expect(error.message).toContain("already used for a different request");
    expect(await snapshotTables(database)).toEqual(before);
  });

  it("the same key sent 10 times concurrently has exactly one effect, and every caller gets the same result", async () => {
    const id = await enrolledUser(database, coupler);
    const k = key();
    const results = await Promise.all(Array.from({ length: 10 }, () => coupler.levelUpAtomic(id, "PLAYER", 120, 1, k)));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    const expected = { previousLevel: 1, newLevel: 2, totalXp: 120, completedSessions: 1, leveledUp: true };
    for (const result of results) expect(result).toMatchObject(expected);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 120, completedSessions: 1 });
    expect((await auditRows(database, id)).filter((a) => a.operation === "levelUp")).toHaveLength(1);
    expect(await storedKeys(k)).toHaveLength(1);
  });

  it("the same key used concurrently for two learners applies to exactly one; the other gets VALIDATION", async () => {
    const [a, b] = [await enrolledUser(database, coupler), await enrolledUser(database, coupler)];
    const k = key();
    const results = await Promise.allSettled([coupler.levelUpAtomic(a, "PLAYER", 100, 1, k), coupler.levelUpAtomic(b, "PLAYER", 100, 1, k)]);
    const applied = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r) => r.status === "rejected");
    expect(applied).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]?.reason).toMatchObject({ code: "VALIDATION" });
    const winner = (await storedKeys(k))[0]?.user_id;
    const loser = winner === a ? b : a;
    expect(await pairRows(database, winner)).toMatchObject({ totalXp: 100 });
    expect(await pairRows(database, loser)).toMatchObject({ totalXp: 0 });
  });

  it("when two learners' calls store the same key at once, the loser retries past the unique violation and is refused", async () => {
    const [a, b] = [await enrolledUser(database, coupler), await enrolledUser(database, coupler)];
    const k = key();
    // A stops before COMMIT with the key inserted; B's insert of that key must wait on A.
    let aPid = 0;
    let aInserted = () => {};
    const aReady = new Promise<void>((resolve) => (aInserted = resolve));
    let releaseA = () => {};
    const aMayCommit = new Promise<void>((resolve) => (releaseA = resolve));
    const holding = createCoupler(database, {
      faults: {
        beforeCommit: async (client) => {
          aPid = backendPid(client);
          aInserted();
          await aMayCommit;
        },
      },
    });
    const observer = recordingObserver();
    const loserCoupler = createCoupler(database, { observer, lockTimeoutMs: 20_000 });
    const first = holding.levelUpAtomic(a, "PLAYER", 100, 1, k);
    await aReady;
    const second = loserCoupler.levelUpAtomic(b, "PLAYER", 100, 1, k).catch((error: unknown) => error);
    await waitForLockWaiters(database, { blockedBy: aPid });
    releaseA();
    expect(await first).toMatchObject({ userId: a, replayed: false });
    expect(await second).toMatchObject({ code: "VALIDATION" });
    expect(observer.events[0]).toMatchObject({ outcome: "error", errorCode: "VALIDATION", retries: 1 });
    expect(await pairRows(database, b)).toMatchObject({ totalXp: 0, completedSessions: 0 });
  });
});
