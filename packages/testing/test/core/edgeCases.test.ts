/**
 * The nine edge cases the seed listed, each one made impossible by the
 * coupler or by the database's constraints.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findHistoryGap, NotFoundError, type ProgressLicenseCoupler } from "@coupler/core";
import { expectCouplerError, useTestDatabase } from "../../src/vitest.ts";
import {
  auditRows,
  backendPid,
  COMBINING_MODES,
  createCoupler,
  createUsers,
  enrolledUser,
  historySteps,
  pairRows,
  rawTransaction,
  recordingObserver,
  snapshotTables,
  terminateBackend,
  type TestDatabase,
  waitForLockWaiters,
  whilePairLocked,
  withSession,
} from "../../src/index.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase();
  coupler = createCoupler(database);
});
afterAll(() => database.drop());

/** Inserts with the statement succeeding, and returns the error COMMIT fails with. */
async function commitRefused(statement: string, params: unknown[]): Promise<{ code?: string; constraint?: string }> {
  return withSession(database, async (session) => {
    await session.query("begin");
    await session.query(statement, params);
    return session.query("commit").then(
      () => ({}),
      (error: { code?: string; constraint?: string }) => error,
    );
  });
}

describe("the seed's edge cases", () => {
  it("progress without license: a progress row inserted alone is rejected at COMMIT by the deferred foreign key", async () => {
    const [id = 0] = await createUsers(database, 1);
    const error = await commitRefused(
      "insert into specialization_progress (student_id, specialization_id) values ($1, 'PLAYER')",
      [id],
    );
    expect(error).toMatchObject({ code: "23503", constraint: "specialization_progress_license_fkey" });
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: undefined, licenseLevel: undefined });
  });

  it("license without progress: a license inserted alone is rejected at COMMIT by the deferred foreign key", async () => {
    const [id = 0] = await createUsers(database, 1);
    const error = await commitRefused(
      "insert into user_licenses (user_id, specialization_type) values ($1, 'PLAYER')",
      [id],
    );
    expect(error).toMatchObject({ code: "23503", constraint: "user_licenses_progress_fkey" });
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: undefined, licenseLevel: undefined });
  });

  it("desync after rollback: a coupler call that fails mid-transaction leaves both levels equal", async () => {
    const id = await enrolledUser(database, coupler);
    await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: 1 });
    const failing = createCoupler(database, {
      faults: { midTransaction: () => Promise.reject(new Error("license service down")) },
    });
    await expectCouplerError(
      failing.levelUp({ userId: id, specialization: "PLAYER", xpGained: 500, sessionsCompleted: 1 }),
      "DB",
    );
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 2, licenseLevel: 2, totalXp: 100 });
    expect((await coupler.validate({ userId: id, specialization: "PLAYER" })).consistent).toBe(true);
  });

  it("interrupted upgrade: a backend killed mid-transaction commits nothing, the pair stays consistent and the pool recovers", async () => {
    const id = await enrolledUser(database, coupler);
    const interrupted = createCoupler(database, {
      faults: { midTransaction: (client) => terminateBackend(database, backendPid(client)) },
    });
    const before = await snapshotTables(database);
    await expectCouplerError(
      interrupted.levelUp({ userId: id, specialization: "PLAYER", xpGained: 600, sessionsCompleted: 3 }),
      "UNAVAILABLE",
    );
    expect(await snapshotTables(database)).toEqual(before);
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 1, licenseLevel: 1, totalXp: 0 });
    expect((await coupler.validate({ userId: id, specialization: "PLAYER" })).consistent).toBe(true);
    // The killed client was discarded, not returned: the same pool keeps serving.
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 120, sessionsCompleted: 1 }),
      ),
    );
    expect(results).toHaveLength(5);
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 600, progressLevel: 4, licenseLevel: 4 });
    expect(database.pool.waitingCount).toBe(0);
    expect(database.pool.totalCount).toBe(database.pool.idleCount);
  });

  it("max level overflow: a level above the maximum is refused, and a huge XP gain caps at the maximum", async () => {
    const id = await enrolledUser(database, coupler);
    const before = await snapshotTables(database);
    const error = await expectCouplerError(
      coupler.advance({ userId: id, specialization: "PLAYER", newLevel: 11, reason: "x" }, { actor: "y" }),
      "VALIDATION",
    );
    expect(error.message).toContain("maximum level 10");
    expect(await snapshotTables(database)).toEqual(before);
    const capped = await coupler.levelUp({
      userId: id,
      specialization: "PLAYER",
      xpGained: 1_000_000,
      sessionsCompleted: 1,
    });
    expect(capped).toMatchObject({ newLevel: 10, maxAchievedLevel: 10, totalXp: 1_000_000 });
    const again = await coupler.levelUp({
      userId: id,
      specialization: "PLAYER",
      xpGained: 1_000_000,
      sessionsCompleted: 1,
    });
    expect(again).toMatchObject({ previousLevel: 10, newLevel: 10, leveledUp: false });
    expect(await historySteps(database, id)).toEqual([[1, 10]]);
    for (const [spec, max] of [
      ["COACH", 8],
      ["INTERNSHIP", 5],
    ] as const) {
      const other = await enrolledUser(database, coupler, spec);
      expect(
        (await coupler.levelUp({ userId: other, specialization: spec, xpGained: 1_000_000, sessionsCompleted: 1 }))
          .newLevel,
      ).toBe(max);
    }
  });

  it("negative XP is refused (VALIDATION) and nothing is written", async () => {
    const id = await enrolledUser(database, coupler);
    await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    const before = await snapshotTables(database);
    const error = await expectCouplerError(
      coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: -100, sessionsCompleted: 0 }),
      "VALIDATION",
    );
    expect(error.message).toContain("XP must not be negative");
    await expectCouplerError(
      coupler.advance(
        { userId: id, specialization: "PLAYER", newLevel: 1, xpChange: -300, reason: "x" },
        { actor: "y" },
      ),
      "VALIDATION",
    );
    expect(await snapshotTables(database)).toEqual(before);
  });

  it("duplicate sync is idempotent: a second sync changes nothing and writes no history", async () => {
    const id = await enrolledUser(database, coupler);
    await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    // A legacy writer (guard off) moved only the progress level.
    await rawTransaction(database, [
      ["update specialization_progress set current_level = 5 where student_id = $1", [id]],
    ]);
    const first = await coupler.sync({ userId: id, specialization: "PLAYER", source: "progress" });
    expect(first).toMatchObject({ progressLevel: 5, licenseLevel: 3, level: 5, changed: true });
    const afterFirst = await snapshotTables(database);
    const second = await coupler.sync({ userId: id, specialization: "PLAYER", source: "progress" });
    expect(second).toMatchObject({ progressLevel: 5, licenseLevel: 5, level: 5, changed: false });
    expect(await snapshotTables(database)).toEqual({ ...afterFirst, audit: String(Number(afterFirst?.audit) + 1) });
    expect(await historySteps(database, id)).toEqual([
      [1, 3],
      [3, 5],
    ]);
    expect((await auditRows(database, id)).slice(-2).map((a) => a.outcome)).toEqual(["applied", "noop"]);
  });

  it("orphan prevention: deleting a user removes both halves, and no pair can be written for a missing user", async () => {
    const id = await enrolledUser(database, coupler);
    await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    await rawTransaction(database, [["delete from users where id = $1", [id]]]);
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: undefined, licenseLevel: undefined });
    const { rows } = await database.pool.query(
      "select count(*)::int as n from license_progressions h where not exists (select 1 from user_licenses l where l.user_id = h.user_id and l.id = h.user_license_id)",
    );
    expect(rows[0]).toEqual({ n: 0 });

    const missing = 2_000_000_000;
    const enroll = await expectCouplerError(coupler.enroll({ userId: missing, specialization: "PLAYER" }), "NOT_FOUND");
    expect(enroll).toBeInstanceOf(NotFoundError);
    expect(enroll).toMatchObject({ entity: "user" });
    expect(
      await expectCouplerError(
        coupler.levelUp({ userId: missing, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
        "NOT_FOUND",
      ),
    ).toMatchObject({
      entity: "user",
    });

    const raw = rawTransaction(database, [
      ["insert into specialization_progress (student_id, specialization_id) values ($1, 'PLAYER')", [missing]],
      ["insert into user_licenses (user_id, specialization_type) values ($1, 'PLAYER')", [missing]],
    ]);
    await expect(raw).rejects.toMatchObject({
      code: "23503",
      constraint: "specialization_progress_student_id_users_id_fk",
    });
    expect(await pairRows(database, missing)).toMatchObject({ progressLevel: undefined, licenseLevel: undefined });
  });
});

describe.each(COMBINING_MODES)("the seed's concurrency edge case, write combining $mode", ({ mode, combining }) => {
  it("concurrent level-up: two racing level-ups are both applied, with no lost update and one history chain", async () => {
    const id = await enrolledUser(database, coupler);
    const observer = recordingObserver();
    const racing = createCoupler(database, { combining, observer });
    // Both calls queue behind a held lock, so they are in flight together when it is released
    // (with write combining, the second waits in memory behind the first's transaction).
    const [first, second] = await whilePairLocked(database, id, async () => {
      const calls = [
        racing.levelUp({ userId: id, specialization: "PLAYER", xpGained: 200, sessionsCompleted: 1 }),
        racing.levelUp({ userId: id, specialization: "PLAYER", xpGained: 250, sessionsCompleted: 1 }),
      ];
      await waitForLockWaiters(database, { count: mode === "on" ? 1 : 2 });
      return calls;
    });
    const results = await Promise.all([first, second]);
    expect(results.map((r) => r?.replayed)).toEqual([false, false]);
    expect(await pairRows(database, id)).toMatchObject({
      totalXp: 450,
      completedSessions: 2,
      progressLevel: 3,
      licenseLevel: 3,
    });
    const steps = await historySteps(database, id);
    expect(
      findHistoryGap(
        steps.map(([fromLevel, toLevel]) => ({ fromLevel, toLevel })),
        3,
      ),
    ).toBeUndefined();
    expect(steps[0]?.[0]).toBe(1);
    expect(steps.at(-1)?.[1]).toBe(3);
    // Off, both waited on the held row locks; on, the first did and the second waited in memory behind it.
    expect(observer.events.map((e) => e.contention).sort()).toEqual(
      mode === "on" ? ["queue", "row_lock"] : ["row_lock", "row_lock"],
    );
  });
});
