/**
 * The seed's positional method names (core's coupler/seedAliases.ts), kept as
 * a deprecated contract for callers written against the seed. Every other test
 * calls the main API; this file is the only one that calls the aliases (lint
 * forbids them elsewhere), and checks that each hands its arguments to the
 * operation it names, unchanged, and returns that operation's answer.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ProgressLicenseCoupler } from "@coupler/core";
import { expectCouplerError, useTestDatabase } from "../../src/vitest.ts";
import {
  auditRows,
  createCoupler,
  enrolledUser,
  pairRows,
  rawTransaction,
  type TestDatabase,
} from "../../src/index.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase({ max: 4 });
  coupler = createCoupler(database);
});
afterAll(() => database.drop());

describe("the seed's aliases", () => {
  it("levelUpAtomic(userId, specialization, xp, sessions, key, call) is levelUp with those fields and call options", async () => {
    const id = await enrolledUser(database, coupler);
    const levelUp = vi.spyOn(coupler, "levelUp");
    const result = await coupler.levelUpAtomic(id, "PLAYER", 350, 2, "alias-key-1", { actor: "instructor:7" });
    expect(levelUp.mock.calls).toEqual([
      [
        { userId: id, specialization: "PLAYER", xpGained: 350, sessionsCompleted: 2, idempotencyKey: "alias-key-1" },
        { actor: "instructor:7" },
      ],
    ]);
    levelUp.mockRestore();
    expect(result).toMatchObject({
      previousLevel: 1,
      newLevel: 3,
      totalXp: 350,
      completedSessions: 2,
      replayed: false,
    });
    // The key and the caller reached the database: the main API with the same ones replays the alias's result.
    const replay = await coupler.levelUp(
      { userId: id, specialization: "PLAYER", xpGained: 350, sessionsCompleted: 2, idempotencyKey: "alias-key-1" },
      { actor: "instructor:7" },
    );
    expect(replay).toEqual({ ...result, replayed: true });
  });

  it("levelUpAtomic without a key or call options sends none", async () => {
    const id = await enrolledUser(database, coupler);
    const levelUp = vi.spyOn(coupler, "levelUp");
    await coupler.levelUpAtomic(id, "PLAYER", 50, 1);
    expect(levelUp.mock.calls).toEqual([
      [{ userId: id, specialization: "PLAYER", xpGained: 50, sessionsCompleted: 1, idempotencyKey: undefined }, {}],
    ]);
    levelUp.mockRestore();
    expect((await auditRows(database, id)).at(-1)).toMatchObject({ operation: "levelUp", idempotency_key: null });
  });

  it("updateLevelAtomic(userId, specialization, level, details, call) is advance, with the actor moved from the details to the call options", async () => {
    const id = await enrolledUser(database, coupler);
    const advance = vi.spyOn(coupler, "advance");
    const result = await coupler.updateLevelAtomic(
      id,
      "PLAYER",
      4,
      { reason: "coach review", actor: "coach-1", xpChange: 600, sessionsChange: 3 },
      { lockTimeoutMs: 5_000 },
    );
    expect(advance.mock.calls).toEqual([
      [
        { userId: id, specialization: "PLAYER", newLevel: 4, reason: "coach review", xpChange: 600, sessionsChange: 3 },
        { lockTimeoutMs: 5_000, actor: "coach-1" },
      ],
    ]);
    advance.mockRestore();
    expect(result).toMatchObject({ previousLevel: 1, newLevel: 4, totalXp: 600, completedSessions: 3, changed: true });
    const history = await coupler.history({ userId: id, specialization: "PLAYER" });
    expect(history.items).toMatchObject([{ fromLevel: 1, toLevel: 4, reason: "coach review", actor: "coach-1" }]);
  });

  it("syncExistingRecordsAtomic(userId, specialization, source, call) is sync", async () => {
    const id = await enrolledUser(database, coupler);
    await rawTransaction(database, [
      ["update user_licenses set current_level = 3, max_achieved_level = 3 where user_id = $1", [id]],
    ]);
    const sync = vi.spyOn(coupler, "sync");
    const result = await coupler.syncExistingRecordsAtomic(id, "PLAYER", "license", { actor: "admin:1" });
    expect(sync.mock.calls).toEqual([
      [{ userId: id, specialization: "PLAYER", source: "license" }, { actor: "admin:1" }],
    ]);
    sync.mockRestore();
    expect(result).toMatchObject({ progressLevel: 1, licenseLevel: 3, level: 3, changed: true });
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 3, licenseLevel: 3 });
  });

  it("validateConsistency(userId, specialization) is validate", async () => {
    const id = await enrolledUser(database, coupler);
    await rawTransaction(database, [
      ["update specialization_progress set current_level = 2 where student_id = $1", [id]],
    ]);
    const validate = vi.spyOn(coupler, "validate");
    const report = await coupler.validateConsistency(id, "PLAYER");
    expect(validate.mock.calls).toEqual([[{ userId: id, specialization: "PLAYER" }]]);
    validate.mockRestore();
    expect(report).toMatchObject({ consistent: false, issues: [expect.objectContaining({ code: "LEVEL_MISMATCH" })] });
    expect(report).toEqual(await coupler.validate({ userId: id, specialization: "PLAYER" }));
  });

  it("an alias refuses bad input as its operation does, and writes nothing", async () => {
    const id = await enrolledUser(database, coupler);
    await expectCouplerError(coupler.levelUpAtomic(id, "PLAYER", 100, -1), "VALIDATION");
    await expectCouplerError(coupler.updateLevelAtomic(id, "PLAYER", 11, { reason: "x", actor: "y" }), "VALIDATION");
    await expectCouplerError(coupler.syncExistingRecordsAtomic(id, "ASTRONAUT", "progress"), "VALIDATION");
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 1, licenseLevel: 1, totalXp: 0 });
  });
});
