import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findHistoryGap, LockTimeoutError, type ProgressLicenseCoupler } from "@coupler/core";
import { expectCallsMet, expectCouplerError, useTestDatabase } from "../../src/vitest.ts";
import {
  auditRows,
  backendPid,
  COMBINING_MODES,
  createCoupler,
  createUsers,
  enrolledUser,
  historySteps,
  pairRows,
  recordingObserver,
  snapshotTables,
  terminateBackend,
  type TestDatabase,
  whilePairLocked,
} from "../../src/index.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase();
  coupler = createCoupler(database);
});
afterAll(() => database.drop());

const update = { reason: "coach review" };
const byCoach = { actor: "coach-1" };

describe("enroll", () => {
  it("creates both rows at level 1 together", async () => {
    const [id = 0] = await createUsers(database, 1);
    const result = await coupler.enroll({ userId: id, specialization: "PLAYER" });
    expect(result.created).toBe(true);
    expect(result.progress).toMatchObject({ currentLevel: 1, totalXp: 0, completedSessions: 0 });
    expect(result.license).toMatchObject({ currentLevel: 1, maxAchievedLevel: 1 });
  });

  it("is idempotent: a second enroll changes nothing", async () => {
    const id = await enrolledUser(database, coupler);
    const before = await snapshotTables(database);
    const again = await coupler.enroll({ userId: id, specialization: "PLAYER" });
    expect(again.created).toBe(false);
    const after = await snapshotTables(database);
    expect({ ...after, audit: before?.audit }).toEqual(before);
    expect((await auditRows(database, id)).map((a) => a.outcome)).toEqual(["applied", "noop"]);
  });
});

describe("levelUp", () => {
  it("updates progress and license together and writes history", async () => {
    const id = await enrolledUser(database, coupler);
    const result = await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 350, sessionsCompleted: 2 });
    expect(result).toMatchObject({
      previousLevel: 1,
      newLevel: 3,
      totalXp: 350,
      completedSessions: 2,
      leveledUp: true,
    });
    const pair = await coupler.get({ userId: id, specialization: "PLAYER" });
    expect(pair.progress.currentLevel).toBe(3);
    expect(pair.license.currentLevel).toBe(3);
    const history = await coupler.history({ userId: id, specialization: "PLAYER" });
    expect(history.items.map((h) => [h.fromLevel, h.toLevel])).toEqual([[1, 3]]);
    const report = await coupler.validate({ userId: id, specialization: "PLAYER" });
    expect(report.consistent).toBe(true);
  });

  it("adds XP without a history row when the level stays the same", async () => {
    const id = await enrolledUser(database, coupler);
    const result = await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 50, sessionsCompleted: 1 });
    expect(result).toMatchObject({ previousLevel: 1, newLevel: 1, totalXp: 50, leveledUp: false });
    expect(await historySteps(database, id)).toEqual([]);
    expect(await auditRows(database, id)).toHaveLength(2);
  });

  it("never lowers a level that is above what the XP earns", async () => {
    const id = await enrolledUser(database, coupler);
    await coupler.advance({ userId: id, specialization: "PLAYER", newLevel: 6, ...update }, byCoach);
    const result = await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 0 });
    expect(result).toMatchObject({ previousLevel: 6, newLevel: 6, totalXp: 10 });
  });
});

describe("history", () => {
  it("pages newest first with a cursor", async () => {
    const id = await enrolledUser(database, coupler);
    for (const level of [2, 3, 4, 5])
      await coupler.advance({ userId: id, specialization: "PLAYER", newLevel: level, ...update }, byCoach);
    const first = await coupler.history({ userId: id, specialization: "PLAYER", limit: 3 });
    expect(first.items.map((h) => h.toLevel)).toEqual([5, 4, 3]);
    expect(first.nextCursor).not.toBeNull();
    const second = await coupler.history({
      userId: id,
      specialization: "PLAYER",
      limit: 3,
      cursor: first.nextCursor ?? undefined,
    });
    expect(second.items.map((h) => h.toLevel)).toEqual([2]);
    expect(second.nextCursor).toBeNull();
  });
});

describe("findHistoryGap", () => {
  it("accepts a contiguous chain that ends at the current level", () => {
    expect(
      findHistoryGap(
        [
          { fromLevel: 1, toLevel: 3 },
          { fromLevel: 3, toLevel: 4 },
        ],
        4,
      ),
    ).toBeUndefined();
    expect(findHistoryGap([], 1)).toBeUndefined();
  });

  it("names a broken step and a chain that ends elsewhere", () => {
    expect(
      findHistoryGap(
        [
          { fromLevel: 1, toLevel: 3 },
          { fromLevel: 4, toLevel: 5 },
        ],
        5,
      ),
    ).toMatch(/step 2 starts at level 4, expected 3/);
    expect(findHistoryGap([{ fromLevel: 1, toLevel: 3 }], 4)).toMatch(/ends at level 3 but the license is at 4/);
  });
});

describe("seed cases", () => {
  it("atomic update success: both rows, the history and the audit change in one call", async () => {
    const id = await enrolledUser(database, coupler);
    const result = await coupler.advance(
      { userId: id, specialization: "PLAYER", newLevel: 4, ...update, xpChange: 600, sessionsChange: 3 },
      byCoach,
    );
    expect(result).toMatchObject({
      previousLevel: 1,
      newLevel: 4,
      totalXp: 600,
      completedSessions: 3,
      maxAchievedLevel: 4,
      changed: true,
    });
    expect(await pairRows(database, id)).toMatchObject({
      progressLevel: 4,
      licenseLevel: 4,
      maxAchievedLevel: 4,
      totalXp: 600,
      completedSessions: 3,
    });
    expect(await historySteps(database, id)).toEqual([[1, 4]]);
    expect((await auditRows(database, id)).at(-1)).toMatchObject({
      operation: "advance",
      outcome: "applied",
      xp_delta: 600,
      from_level: 1,
      to_level: 4,
    });
  });

  it("keeps max_achieved_level when the level goes down", async () => {
    const id = await enrolledUser(database, coupler);
    await coupler.advance({ userId: id, specialization: "PLAYER", newLevel: 5, ...update }, byCoach);
    const result = await coupler.advance({ userId: id, specialization: "PLAYER", newLevel: 2, ...update }, byCoach);
    expect(result).toMatchObject({ previousLevel: 5, newLevel: 2, maxAchievedLevel: 5 });
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 2, licenseLevel: 2, maxAchievedLevel: 5 });
    expect(await historySteps(database, id)).toEqual([
      [1, 5],
      [5, 2],
    ]);
  });

  it("rollback on validation error: a refused call writes nothing", async () => {
    const id = await enrolledUser(database, coupler);
    const before = await snapshotTables(database);
    await expectCouplerError(
      coupler.advance({ userId: id, specialization: "PLAYER", newLevel: 11, ...update }, byCoach),
      "VALIDATION",
    );
    await expectCouplerError(
      coupler.advance({ userId: id, specialization: "PLAYER", newLevel: 0, ...update }, byCoach),
      "VALIDATION",
    );
    await expectCouplerError(
      coupler.advance({ userId: id, specialization: "PLAYER", newLevel: 2, ...update, xpChange: -5 }, byCoach),
      "VALIDATION",
    );
    await expectCouplerError(
      coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: -1 }),
      "VALIDATION",
    );
    await expectCouplerError(
      coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 1.5, sessionsCompleted: 0 }),
      "VALIDATION",
    );
    await expectCouplerError(
      coupler.levelUp({ userId: id, specialization: "ASTRONAUT", xpGained: 100, sessionsCompleted: 0 }),
      "VALIDATION",
    );
    expect(await snapshotTables(database)).toEqual(before);
  });

  it("rollback on a database error: a constraint violation mid-transaction leaves rows, history and audit as they were", async () => {
    const id = await enrolledUser(database, coupler);
    await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 150, sessionsCompleted: 1 });
    // With the pair locked, a second progress row for the same pair breaks the unique key.
    const faulty = createCoupler(database, {
      faults: {
        midTransaction: async (client) => {
          await client.query(
            "insert into specialization_progress (student_id, specialization_id) values ($1, 'PLAYER')",
            [id],
          );
        },
      },
    });
    const before = await snapshotTables(database);
    const error = await expectCouplerError(
      faulty.levelUp({ userId: id, specialization: "PLAYER", xpGained: 500, sessionsCompleted: 1 }),
      "DB",
    );
    expect(error.message).toContain("23505");
    expect(error.message).toContain("specialization_progress_student_specialization_key");
    expect(await snapshotTables(database)).toEqual(before);
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 2, licenseLevel: 2, totalXp: 150 });
  });

  it("rollback on a database error: a constraint checked at COMMIT rolls back the whole call", async () => {
    const id = await enrolledUser(database, coupler);
    const [stranger = 0] = await createUsers(database, 1);
    // A progress row without its license fails the deferred foreign key at COMMIT.
    const faulty = createCoupler(database, {
      faults: {
        beforeCommit: async (client) => {
          await client.query(
            "insert into specialization_progress (student_id, specialization_id) values ($1, 'PLAYER')",
            [stranger],
          );
        },
      },
    });
    const before = await snapshotTables(database);
    const error = await expectCouplerError(
      faulty.levelUp({ userId: id, specialization: "PLAYER", xpGained: 500, sessionsCompleted: 1 }),
      "DB",
    );
    expect(error.message).toContain("23503");
    expect(await snapshotTables(database)).toEqual(before);
  });

  it("rollback on a database error: a failure after the pair is locked and before its write leaves both rows, history and audit unchanged", async () => {
    const id = await enrolledUser(database, coupler);
    const faulty = createCoupler(database, {
      faults: {
        midTransaction: () => Promise.reject(new Error("injected failure mid-transaction")),
      },
    });
    const before = await snapshotTables(database);
    const error = await expectCouplerError(
      faulty.levelUp({ userId: id, specialization: "PLAYER", xpGained: 500, sessionsCompleted: 1 }),
      "DB",
    );
    expect(error.cause).toBeInstanceOf(Error);
    expect((error.cause as Error).message).toBe("injected failure mid-transaction");
    expect(await snapshotTables(database)).toEqual(before);
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 1, licenseLevel: 1, totalXp: 0 });
  });

  it("rollback on a database error: a backend terminated mid-transaction, with the pair locked, commits nothing", async () => {
    const id = await enrolledUser(database, coupler);
    const faulty = createCoupler(database, {
      faults: { midTransaction: (client) => terminateBackend(database, backendPid(client)) },
    });
    const before = await snapshotTables(database);
    const error = await expectCouplerError(
      faulty.levelUp({ userId: id, specialization: "PLAYER", xpGained: 500, sessionsCompleted: 1 }),
      "UNAVAILABLE",
    );
    expect(error.retryable).toBe(true);
    expect(await snapshotTables(database)).toEqual(before);
  });

  it("lock timeout: a call blocked by a held lock fails with LOCK_TIMEOUT and writes nothing", async () => {
    const id = await enrolledUser(database, coupler);
    await whilePairLocked(database, id, async () => {
      const before = await snapshotTables(database);
      const error = await expectCouplerError(
        coupler.levelUp(
          { userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: 1 },
          { lockTimeoutMs: 200 },
        ),
        "LOCK_TIMEOUT",
      );
      expect(error.retryable).toBe(true);
      expect(error).toBeInstanceOf(LockTimeoutError);
      expect(error).toMatchObject({ lockTimeoutMs: 200, noWait: false });
      expect(error.message).toContain("200 ms");
      expect(await snapshotTables(database)).toEqual(before);
    });
  });

  it("lock timeout with NOWAIT fails at once, even with a long lock timeout", async () => {
    const id = await enrolledUser(database, coupler);
    await whilePairLocked(database, id, async () => {
      const before = await snapshotTables(database);
      // Were NOWAIT ignored, this call would wait ten minutes and the test would time out.
      const call = coupler.levelUp(
        { userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: 1 },
        { noWait: true, lockTimeoutMs: 600_000 },
      );
      const error = await expectCouplerError(call, "LOCK_TIMEOUT");
      expect(error).toMatchObject({ noWait: true, retryable: true });
      expect(error.message).toContain("NOWAIT");
      expect(await snapshotTables(database)).toEqual(before);
    });
  });
});

// The row-lock path (combining off: every call its own transaction, as on Citus or with several API
// processes) and the in-memory path (on: calls queue for the pair and share transactions) both run.
describe.each(COMBINING_MODES)("concurrency, write combining $mode", ({ combining }) => {
  it("concurrent updates are serialized: 40 level-ups on one learner add up exactly, with one contiguous history", async () => {
    const id = await enrolledUser(database, coupler);
    const observer = recordingObserver();
    const patient = createCoupler(database, { lockTimeoutMs: 20_000, combining, observer });
    const n = 40;
    const results = await Promise.all(
      Array.from({ length: n }, () =>
        patient.levelUp({ userId: id, specialization: "PLAYER", xpGained: 25, sessionsCompleted: 1 }),
      ),
    );
    expect(results.every((r) => !r.replayed)).toBe(true);
    // Each call saw the previous one's commit: the totals they returned are 25, 50, ..., 1000.
    expect(results.map((r) => r.totalXp).sort((a, b) => a - b)).toEqual(
      Array.from({ length: n }, (_, i) => 25 * (i + 1)),
    );
    expect(await pairRows(database, id)).toMatchObject({
      totalXp: 25 * n,
      completedSessions: n,
      progressLevel: 5,
      licenseLevel: 5,
    });
    const steps = await historySteps(database, id);
    expect(
      findHistoryGap(
        steps.map(([fromLevel, toLevel]) => ({ fromLevel, toLevel })),
        5,
      ),
    ).toBeUndefined();
    expect(steps).toEqual([
      [1, 2],
      [2, 3],
      [3, 4],
      [4, 5],
    ]);
    expect((await coupler.validate({ userId: id, specialization: "PLAYER" })).consistent).toBe(true);
    const audit = await auditRows(database, id);
    expect(audit.filter((a) => a.operation === "levelUp" && a.outcome === "applied")).toHaveLength(n);

    // The calls really overlapped: off, 40 transactions met at the pair's row locks; on, calls shared batches.
    expect(observer.events).toHaveLength(n);
    expectCallsMet(observer.events, combining);
  });
});
