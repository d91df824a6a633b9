import { Catalogue, sql, type SpecializationRules } from "@coupler/core";
import { createCoupler, enrolledUsers } from "@coupler/testing";
// Brings in the ProvidedContext keys the global setup provides (for `inject` types).
import type {} from "@coupler/testing/globalSetup";
import { useTestDatabase } from "@coupler/testing/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LEVEL_UP_SQL, levelUpTransaction, pgbenchScript } from "./levelUpTransaction.ts";

const database = await useTestDatabase({ max: 4 });
afterAll(() => database.drop());

let rules: SpecializationRules;
beforeAll(async () => {
  const found = await new Catalogue(database.db).get("PLAYER");
  if (!found) throw new Error("PLAYER is missing from the catalogue");
  rules = found;
});

/** Everything a level-up writes for one learner, without ids and timestamps. */
async function footprint(userId: number) {
  const { rows } = await database.db.execute<Record<string, unknown>>(sql`
    select p.current_level as progress_level, p.total_xp::int as xp, p.completed_sessions as sessions,
           l.current_level as license_level, l.max_achieved_level as max_level,
           (select json_agg(json_build_array(h.from_level, h.to_level, h.reason) order by h.id) from license_progressions h where h.user_id = l.user_id and h.user_license_id = l.id) as history,
           (select json_agg(json_build_array(a.operation, a.xp_delta, a.sessions_delta, a.from_level, a.to_level, a.outcome) order by a.id)
              from coupler_audit_log a where a.user_id = p.student_id and a.operation = 'levelUp') as audit
    from specialization_progress p join user_licenses l on l.user_id = p.student_id and l.specialization_type = p.specialization_id
    where p.student_id = ${userId}`);
  return rows[0];
}

describe("the ceiling's level-up transaction", () => {
  it("leaves the same rows, history and audit as the coupler's levelUpAtomic for the same awards", async () => {
    const coupler = createCoupler(database);
    const [viaCoupler, viaPg] = await enrolledUsers(database, coupler, 2);
    if (viaCoupler === undefined || viaPg === undefined) throw new Error("two learners expected");
    const client = await database.pool.connect();
    try {
      for (const xp of [40, 70, 250, 0, 5000]) {
        await coupler.levelUpAtomic(viaCoupler, "PLAYER", xp, 1);
        await levelUpTransaction(client, rules, { userId: viaPg, xpGained: xp, sessionsCompleted: 1, lockTimeoutMs: 2000, actor: "raw-pg" });
      }
    } finally {
      client.release();
    }
    const expected = await footprint(viaCoupler);
    expect(expected).toMatchObject({ progress_level: 10, license_level: 10, xp: 5360, sessions: 5 });
    expect(await footprint(viaPg)).toEqual(expected);
  });

  it("rolls back and names the learner when it is not enrolled", async () => {
    const client = await database.pool.connect();
    try {
      await expect(
        levelUpTransaction(client, rules, { userId: 2_000_000, xpGained: 1, sessionsCompleted: 1, lockTimeoutMs: 2000, actor: "raw-pg" }),
      ).rejects.toThrow("learner 2000000 is not enrolled in PLAYER");
      const { rows } = await client.query<{ open: boolean }>("select now() = statement_timestamp() as open");
      expect(rows[0]?.open).toBe(true); // no transaction left open on the connection
    } finally {
      client.release();
    }
  });

  it("is the same statement sequence in the pgbench script", () => {
    const script = pgbenchScript(2000);
    const order = ["BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE", "SET LOCAL lock_timeout = 2000", "FROM specialization_progress", "FROM user_licenses",
      "UPDATE specialization_progress", "UPDATE user_licenses", "INSERT INTO license_progressions", "INSERT INTO coupler_audit_log", "\nCOMMIT;"];
    const positions = order.map((fragment) => script.indexOf(fragment));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(LEVEL_UP_SQL.begin(2000)).toBe("BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE; SET LOCAL lock_timeout = 2000");
    expect(script.match(/FOR UPDATE/g)).toHaveLength(2);
  });
});
