import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProgressLicenseCoupler } from "@coupler/core";
import {
  createCoupler,
  createUsers,
  recordingObserver,
  type TestDatabase,
  waitForLockWaiters,
  whilePairLocked,
} from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

let database: TestDatabase;
const recorder = recordingObserver();
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase();
  coupler = createCoupler(database, { observer: recorder, lockTimeoutMs: 20_000 });
});
afterAll(() => database.drop());

/** The events the calls in `fn` produced. */
async function eventsOf(fn: () => Promise<unknown>) {
  const from = recorder.events.length;
  await fn();
  return recorder.events.slice(from);
}

describe("observer", () => {
  it("receives one event per call with its outcome, duration, lock wait and retries", async () => {
    const [id = 0] = await createUsers(database, 1);
    const settle = (p: Promise<unknown>) => p.catch(() => undefined);
    const events = await eventsOf(async () => {
      await coupler.enroll({ userId: id, specialization: "PLAYER" });
      await coupler.enroll({ userId: id, specialization: "PLAYER" });
      const keyed = {
        userId: id,
        specialization: "PLAYER",
        xpGained: 150,
        sessionsCompleted: 1,
        idempotencyKey: "observer-key-1",
      };
      await coupler.levelUp(keyed);
      await coupler.levelUp(keyed);
      await coupler.advance(
        { userId: id, specialization: "PLAYER", newLevel: 2, reason: "same level" },
        { actor: "t" },
      );
      await settle(coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: -1, sessionsCompleted: 0 }));
      await settle(
        coupler.advance({ userId: id, specialization: "PLAYER", newLevel: 99, reason: "too high" }, { actor: "t" }),
      );
      await settle(
        coupler.levelUp({ userId: 2_000_000_000, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 0 }),
      );
      await coupler.get({ userId: id, specialization: "PLAYER" });
    });
    expect(events.map((e) => [e.operation, e.outcome, e.errorCode])).toEqual([
      ["enroll", "applied", undefined],
      ["enroll", "noop", undefined],
      ["levelUp", "applied", undefined],
      ["levelUp", "replayed", undefined],
      ["advance", "noop", undefined],
      ["levelUp", "error", "VALIDATION"],
      ["advance", "error", "VALIDATION"],
      ["levelUp", "error", "NOT_FOUND"],
      ["get", "noop", undefined],
    ]);
    for (const event of events) {
      expect(event.durationMs).toBeGreaterThanOrEqual(0);
      expect(event.retries).toBe(0);
      expect(event.deadlocks).toBe(0);
      expect(event.specialization).toBe("PLAYER");
    }
    // Writes that reached their locks report the wait; refused input and reads do not.
    expect(events.map((e) => e.lockWaitMs !== undefined)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      true,
      false,
    ]);
  });

  it("marks a call contended, once and not as a retry, when it had to wait for a held lock", async () => {
    const [id = 0] = await createUsers(database, 1);
    await coupler.enroll({ userId: id, specialization: "PLAYER" });
    const events = await eventsOf(() =>
      whilePairLocked(database, id, async (holder) => {
        const call = coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: 1 });
        await waitForLockWaiters(database, { blockedBy: holder.pid });
        await sleep(20); // a wait long enough to show in lockWaitMs
        return { call };
      }).then(({ call }) => call),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      operation: "levelUp",
      outcome: "applied",
      contended: true,
      contention: "row_lock",
      retries: 0,
    });
    expect(events[0]?.lockWaitMs).toBeGreaterThan(1);
    expect((await coupler.get({ userId: id, specialization: "PLAYER" })).progress.totalXp).toBe(100);
  });

  it("does not mark a call contended when no other transaction holds the locks, however long it took", async () => {
    const [id = 0] = await createUsers(database, 1);
    await coupler.enroll({ userId: id, specialization: "PLAYER" });
    // Regression: contention used to be guessed from the lock statements' wall time, so a busy
    // machine reported every call as contended. Now the lock statement itself decides.
    const events = await eventsOf(async () => {
      for (let i = 0; i < 20; i++)
        await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
    });
    expect(events).toHaveLength(20);
    expect(events.filter((e) => e.contended || e.contention !== undefined)).toEqual([]);
    expect(events.every((e) => e.lockWaitMs !== undefined && e.retries === 0)).toBe(true);
  });

  it("drops an event when the observer throws, without failing the call", async () => {
    const [id = 0] = await createUsers(database, 1);
    const throwing = createCoupler(database, {
      observer: {
        onOperation: () => {
          throw new Error("metrics backend down");
        },
      },
    });
    await expect(throwing.enroll({ userId: id, specialization: "PLAYER" })).resolves.toMatchObject({ created: true });
  });
});
