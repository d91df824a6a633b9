import { describe, expect, it } from "vitest";
import { type IntegrityCheck, repairDesyncs, runIntegrityAudit } from "@coupler/core";
import { createCoupler, createUsers, enrolledUser, historySteps, pairRows, rawTransaction } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

// Each test plants its own damage, so each gets a database of its own.

const ids = (check: IntegrityCheck) => check.samples.map((s) => s.userId).sort((a, b) => a - b);

describe("integrity audit", () => {
  it("reports no violations on a database written only by the coupler", async () => {
    await using database = await useTestDatabase({ max: 4 });
    const coupler = createCoupler(database);
    for (const spec of ["PLAYER", "COACH", "INTERNSHIP"]) {
      const id = await enrolledUser(database, coupler, spec);
      await coupler.levelUp({ userId: id, specialization: spec, xpGained: 700, sessionsCompleted: 2 });
      await coupler.advance({ userId: id, specialization: spec, newLevel: 2, reason: "demotion" }, { actor: "coach" });
    }
    const report = await runIntegrityAudit(database.pool);
    expect(report.pairs).toBe(3);
    expect(report.violations).toBe(0);
  });

  it("counts and samples each planted category: desyncs, missing halves, orphans, out-of-range levels and history gaps", async () => {
    await using database = await useTestDatabase({ max: 4 });
    const coupler = createCoupler(database);
    const desynced = await enrolledUser(database, coupler);
    await coupler.levelUp({ userId: desynced, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    const outOfRange = await enrolledUser(database, coupler);
    const gapped = await enrolledUser(database, coupler);
    await coupler.levelUp({ userId: gapped, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    const { licenseId: gappedLicense } = await pairRows(database, gapped);
    const [progressOnly = 0, licenseOnly = 0] = await createUsers(database, 2);
    const ghost = 2_000_000_000;

    // Guard off (the default); replica role disables the foreign-key triggers.
    await rawTransaction(
      database,
      [
        ["update specialization_progress set current_level = 2 where student_id = $1", [desynced]],
        ["insert into specialization_progress (student_id, specialization_id) values ($1, 'PLAYER')", [progressOnly]],
        ["insert into user_licenses (user_id, specialization_type) values ($1, 'PLAYER')", [licenseOnly]],
        ["insert into specialization_progress (student_id, specialization_id) values ($1, 'PLAYER')", [ghost]],
        ["insert into user_licenses (user_id, specialization_type) values ($1, 'PLAYER')", [ghost]],
        [
          "insert into license_progressions (user_id, user_license_id, from_level, to_level, reason, actor) values ($1, 999999, 1, 2, 'planted', 'test')",
          [ghost + 1],
        ],
        ["update user_licenses set max_achieved_level = 11 where user_id = $1", [outOfRange]],
        [
          "insert into license_progressions (user_id, user_license_id, from_level, to_level, reason, actor) values ($1, $2, 5, 6, 'planted', 'test')",
          [gapped, gappedLicense],
        ],
      ],
      { replica: true },
    );

    const report = await runIntegrityAudit(database.pool);
    expect(report.desynced.count).toBe(1);
    expect(ids(report.desynced)).toEqual([desynced]);
    expect(report.desynced.samples[0]?.detail).toBe("progress level 2, license level 3");
    expect(report.missingLicense.count).toBe(1);
    expect(ids(report.missingLicense)).toEqual([progressOnly]);
    expect(report.missingProgress.count).toBe(1);
    expect(ids(report.missingProgress)).toEqual([licenseOnly]);
    expect(report.orphans.count).toBe(3);
    expect(report.orphans.samples.map((s) => s.detail)).toEqual(
      expect.arrayContaining(["progress of a missing user", "license of a missing user"]),
    );
    expect(report.orphans.samples.filter((s) => s.userId === ghost)).toHaveLength(2);
    expect(report.orphans.samples.some((s) => /^history row \d+ of missing license 999999$/.test(s.detail))).toBe(true);
    expect(report.levelOutOfRange.count).toBe(1);
    expect(ids(report.levelOutOfRange)).toEqual([outOfRange]);
    expect(report.historyGaps.count).toBe(1);
    expect(ids(report.historyGaps)).toEqual([gapped]);
    expect(report.historyGaps.samples[0]?.detail).toBe("1 broken step(s); history ends at level 6, license at 3");
    expect(report.violations).toBe(8);

    // The per-pair check agrees.
    const issues = async (id: number) =>
      (await coupler.validate({ userId: id, specialization: "PLAYER" })).issues.map((i) => i.code);
    expect(await issues(desynced)).toEqual(["LEVEL_MISMATCH"]);
    expect(await issues(progressOnly)).toEqual(["MISSING_LICENSE"]);
    expect(await issues(licenseOnly)).toEqual(["MISSING_PROGRESS"]);
    expect(await issues(outOfRange)).toEqual([]);
    expect(await issues(gapped)).toEqual(["HISTORY_GAP"]);
  });

  it("limits samples but not counts", async () => {
    await using database = await useTestDatabase({ max: 4 });
    const coupler = createCoupler(database);
    const users = [];
    for (let i = 0; i < 5; i++) users.push(await enrolledUser(database, coupler));
    await rawTransaction(database, [
      ["update specialization_progress set current_level = 2 where student_id = any($1)", [users]],
    ]);
    const report = await runIntegrityAudit(database.pool, { sampleLimit: 2 });
    expect(report.desynced.count).toBe(5);
    expect(report.desynced.samples).toHaveLength(2);
  });
});

describe("repairDesyncs", () => {
  it("repairs desynced pairs from the named side and rebuilds missing halves, leaving a clean audit", async () => {
    await using database = await useTestDatabase({ max: 4 });
    const coupler = createCoupler(database);
    const desynced = await enrolledUser(database, coupler);
    await coupler.levelUp({ userId: desynced, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    const [progressOnly = 0, licenseOnly = 0] = await createUsers(database, 2);
    await rawTransaction(
      database,
      [
        ["update specialization_progress set current_level = 5 where student_id = $1", [desynced]],
        [
          "insert into specialization_progress (student_id, specialization_id, current_level, total_xp) values ($1, 'PLAYER', 3, 300)",
          [progressOnly],
        ],
        ["insert into user_licenses (user_id, specialization_type) values ($1, 'PLAYER')", [licenseOnly]],
      ],
      { replica: true },
    );
    const before = await runIntegrityAudit(database.pool);
    expect([before.desynced.count, before.missingLicense.count, before.missingProgress.count]).toEqual([1, 1, 1]);

    const results = await repairDesyncs(coupler, database.pool, "progress", { actor: "night-repair" });
    expect(results).toHaveLength(3);
    expect(results.every((r) => r.changed)).toBe(true);
    expect(await pairRows(database, desynced)).toMatchObject({
      progressLevel: 5,
      licenseLevel: 5,
      maxAchievedLevel: 5,
    });
    expect(await pairRows(database, progressOnly)).toMatchObject({ progressLevel: 3, licenseLevel: 3 });
    expect(await pairRows(database, licenseOnly)).toMatchObject({ progressLevel: 1, licenseLevel: 1 });
    expect(await historySteps(database, desynced)).toEqual([
      [1, 3],
      [3, 5],
    ]);
    // Regression: a license rebuilt above level 1 got no history, so the audit then reported a gap.
    expect(await historySteps(database, progressOnly)).toEqual([[1, 3]]);

    const after = await runIntegrityAudit(database.pool);
    expect(after.violations).toBe(0);
    // Nothing left to repair: a second run does nothing.
    expect(await repairDesyncs(coupler, database.pool, "progress")).toEqual([]);
  });

  it("repairs from the license side when told to", async () => {
    await using database = await useTestDatabase({ max: 4 });
    const coupler = createCoupler(database);
    const id = await enrolledUser(database, coupler);
    await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    await rawTransaction(database, [
      ["update specialization_progress set current_level = 5 where student_id = $1", [id]],
    ]);
    await repairDesyncs(coupler, database.pool, "license");
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 3, licenseLevel: 3 });
    expect((await runIntegrityAudit(database.pool)).violations).toBe(0);
  });
});
