import { runIntegrityAudit, type ConsistencyIssueCode } from "@coupler/core";
import { describe, expect, it } from "vitest";
import { createCoupler, createUsers, enrolledUser, historySteps, pairRows, rawTransaction } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

// The repair matrix: each single corruption a writer that bypasses the
// coupler can leave, planted with raw SQL, then the documented repair (sync
// from the named side). Afterwards the integrity audit finds nothing and
// validate says consistent; a second sync changes nothing. Each case gets a
// database of its own, since the audit counts every pair.

interface Case {
  name: string;
  /** What validate reports before the repair. */
  issues: ConsistencyIssueCode[];
  /** The side the runbook repairs from. */
  source: "progress" | "license";
  /** Plants the damage on learner `id` (enrolled, then leveled to 2 when `leveled`), with raw statements. */
  plant: (id: number) => (string | [string, unknown[]])[];
  /** Whether the learner is enrolled and leveled to 2 first (else a bare user). */
  leveled: boolean;
  /** The pair and its history after the repair. */
  after: { level: number; maxAchievedLevel: number; history: [number, number][] };
}

const CASES: Case[] = [
  {
    name: "a license moved by a legacy writer with no history row (the level mismatch of issue 24)",
    issues: ["LEVEL_MISMATCH", "HISTORY_GAP"],
    source: "license",
    leveled: true,
    plant: (id) => [["update user_licenses set current_level = 3, max_achieved_level = 3 where user_id = $1", [id]]],
    after: {
      level: 3,
      maxAchievedLevel: 3,
      history: [
        [1, 2],
        [2, 3],
      ],
    },
  },
  {
    name: "a progress row moved alone",
    issues: ["LEVEL_MISMATCH"],
    source: "progress",
    leveled: true,
    plant: (id) => [["update specialization_progress set current_level = 4 where student_id = $1", [id]]],
    after: {
      level: 4,
      maxAchievedLevel: 4,
      history: [
        [1, 2],
        [2, 4],
      ],
    },
  },
  {
    name: "a missing progress row",
    issues: ["MISSING_PROGRESS"],
    source: "license",
    leveled: true,
    plant: (id) => [["delete from specialization_progress where student_id = $1", [id]]],
    after: { level: 2, maxAchievedLevel: 2, history: [[1, 2]] },
  },
  {
    name: "a missing license row",
    issues: ["MISSING_LICENSE"],
    source: "progress",
    leveled: false,
    plant: (id) => [
      [
        "insert into specialization_progress (student_id, specialization_id, current_level, total_xp) values ($1, 'PLAYER', 3, 300)",
        [id],
      ],
    ],
    after: { level: 3, maxAchievedLevel: 3, history: [[1, 3]] },
  },
  {
    name: "a history gap: both rows moved together with no history row",
    issues: ["HISTORY_GAP"],
    source: "progress",
    leveled: true,
    plant: (id) => [
      ["update specialization_progress set current_level = 5 where student_id = $1", [id]],
      ["update user_licenses set current_level = 5, max_achieved_level = 5 where user_id = $1", [id]],
    ],
    after: {
      level: 5,
      maxAchievedLevel: 5,
      history: [
        [1, 2],
        [2, 5],
      ],
    },
  },
  {
    // The schema's check (user_licenses_max_achieved_gte_current) refuses this since migration 0000;
    // the case is planted with the check dropped, as on a database restored without it.
    name: "a highest level below the current one",
    issues: ["MAX_BELOW_CURRENT"],
    source: "license",
    leveled: true,
    plant: (id) => [
      `alter table user_licenses drop constraint ${MAX_CHECK}`,
      ["update user_licenses set max_achieved_level = 1 where user_id = $1", [id]],
    ],
    after: { level: 2, maxAchievedLevel: 2, history: [[1, 2]] },
  },
];

const MAX_CHECK = "user_licenses_max_achieved_gte_current";

describe("the repair matrix: sync from the named side clears each single corruption", () => {
  for (const c of CASES) {
    it(`${c.name}: sync from ${c.source} leaves no violation and a consistent pair`, async () => {
      await using database = await useTestDatabase({ max: 4 });
      const coupler = createCoupler(database);
      let id: number;
      if (c.leveled) {
        id = await enrolledUser(database, coupler);
        await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: 1 });
      } else {
        [id = 0] = await createUsers(database, 1);
      }
      const { rows: checks } = await database.pool.query<{ definition: string }>(
        "select pg_get_constraintdef(oid) as definition from pg_constraint where conname = $1",
        [MAX_CHECK],
      );
      const planted = c.plant(id);
      const dropsCheck = planted.some((s) => typeof s === "string" && s.includes(MAX_CHECK));
      const checkDefinition = dropsCheck ? checks[0]?.definition : undefined;
      expect(checks).toHaveLength(1);
      // Replica role: the foreign-key triggers are off, as for a writer the constraints did not stop.
      await rawTransaction(database, planted, { replica: true });
      const pair = { userId: id, specialization: "PLAYER" };

      expect((await runIntegrityAudit(database.pool)).violations).toBeGreaterThan(0);
      const before = await coupler.validate(pair);
      expect(before.issues.map((i) => i.code).sort()).toEqual([...c.issues].sort());

      const repaired = await coupler.sync({ ...pair, source: c.source }, { actor: "night-repair" });
      expect(repaired).toMatchObject({ changed: true, level: c.after.level });

      const audit = await runIntegrityAudit(database.pool);
      expect(audit.violations).toBe(0);
      expect(await coupler.validate(pair)).toMatchObject({ consistent: true, issues: [] });
      expect(await pairRows(database, id)).toMatchObject({
        progressLevel: c.after.level,
        licenseLevel: c.after.level,
        maxAchievedLevel: c.after.maxAchievedLevel,
      });
      expect(await historySteps(database, id)).toEqual(c.after.history);
      if (checkDefinition) {
        // The check holds again for every row: it can be put back (ADD CONSTRAINT validates them all).
        await rawTransaction(database, [`alter table user_licenses add constraint ${MAX_CHECK} ${checkDefinition}`]);
      }
      // Converged: the same repair again finds nothing to do.
      expect(await coupler.sync({ ...pair, source: c.source }, { actor: "night-repair" })).toMatchObject({
        changed: false,
      });
    });
  }

  it("marks a history repair as one, with the side it came from and the actor", async () => {
    await using database = await useTestDatabase({ max: 4 });
    const coupler = createCoupler(database);
    const id = await enrolledUser(database, coupler);
    await rawTransaction(database, [
      ["update specialization_progress set current_level = 3 where student_id = $1", [id]],
      ["update user_licenses set current_level = 3, max_achieved_level = 3 where user_id = $1", [id]],
    ]);
    await coupler.sync({ userId: id, specialization: "PLAYER", source: "license" }, { actor: "night-repair" });
    const { rows } = await database.pool.query<{ from_level: number; to_level: number; reason: string; actor: string }>(
      "select from_level, to_level, reason, actor from license_progressions where user_id = $1 order by id",
      [id],
    );
    expect(rows).toEqual([
      { from_level: 1, to_level: 3, reason: "sync from license: history repaired", actor: "night-repair" },
    ]);
  });
});
