import { and, eq, type ProgressLicenseCoupler } from "@coupler/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { specializationProgress, userLicenses } from "@coupler/core/schema";
import { createCoupler, enrolledUser, rawTransaction, type TestDatabase } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase({ max: 4 });
  coupler = createCoupler(database);
});
afterAll(() => database.drop());

describe("locking clause", () => {
  const progressOf = () =>
    database.db
      .select()
      .from(specializationProgress)
      .where(and(eq(specializationProgress.studentId, 1), eq(specializationProgress.specializationId, "PLAYER")));

  it(".for('update', { noWait: true }) emits for update nowait", () => {
    expect(progressOf().for("update", { noWait: true }).toSQL().sql).toMatch(/ for update nowait$/);
  });

  it(".for('update') emits a plain for update", () => {
    expect(progressOf().for("update").toSQL().sql).toMatch(/ for update$/);
    expect(database.db.select().from(userLicenses).for("update").toSQL().sql).toMatch(
      / from "user_licenses" for update$/,
    );
  });
});

describe("constraints", () => {
  it("the audit log is append-only: UPDATE, DELETE and TRUNCATE are refused", async () => {
    const id = await enrolledUser(database, coupler);
    const refused = { code: "42501", message: expect.stringContaining("append-only") };
    await expect(
      rawTransaction(database, [["update coupler_audit_log set outcome = 'noop' where user_id = $1", [id]]]),
    ).rejects.toMatchObject(refused);
    await expect(
      rawTransaction(database, [["delete from coupler_audit_log where user_id = $1", [id]]]),
    ).rejects.toMatchObject(refused);
    await expect(rawTransaction(database, ["truncate coupler_audit_log"])).rejects.toMatchObject(refused);
    // Also with ordinary triggers disabled.
    await expect(rawTransaction(database, ["delete from coupler_audit_log"], { replica: true })).rejects.toMatchObject(
      refused,
    );
    const { rows } = await database.pool.query("select count(*)::int as n from coupler_audit_log where user_id = $1", [
      id,
    ]);
    expect(rows[0]).toEqual({ n: 1 });
  });

  it.each([
    [
      "negative XP",
      "update specialization_progress set total_xp = -1 where student_id = $1",
      "specialization_progress_total_xp_non_negative",
    ],
    [
      "negative sessions",
      "update specialization_progress set completed_sessions = -1 where student_id = $1",
      "specialization_progress_sessions_non_negative",
    ],
    [
      "level 0",
      "update specialization_progress set current_level = 0 where student_id = $1",
      "specialization_progress_level_positive",
    ],
    [
      "max_achieved_level below current_level",
      "update user_licenses set current_level = 3, max_achieved_level = 2 where user_id = $1",
      "user_licenses_max_achieved_gte_current",
    ],
    [
      "a level above the specialization's maximum",
      "update specialization_progress set current_level = 11 where student_id = $1",
      "specialization_progress_level_in_range_fkey",
    ],
  ])("refuses %s written by raw SQL", async (_name, statement, constraint) => {
    const id = await enrolledUser(database, coupler);
    await expect(rawTransaction(database, [[statement, [id]]])).rejects.toMatchObject({ constraint });
  });

  it("refuses a second progress or license row for the same learner and specialization", async () => {
    const id = await enrolledUser(database, coupler);
    await expect(
      rawTransaction(database, [
        ["insert into specialization_progress (student_id, specialization_id) values ($1, 'PLAYER')", [id]],
      ]),
    ).rejects.toMatchObject({ code: "23505", constraint: "specialization_progress_student_specialization_key" });
    await expect(
      rawTransaction(database, [
        ["insert into user_licenses (user_id, specialization_type) values ($1, 'PLAYER')", [id]],
      ]),
    ).rejects.toMatchObject({ code: "23505", constraint: "user_licenses_user_specialization_key" });
  });
});
