import { sql } from "drizzle-orm";
import { ProgressLicenseCoupler, type CouplerOptions } from "../coupler.ts";
import type { Database } from "../client.ts";
import { users } from "../schema.ts";

let seq = 0;

/** Inserts `count` users and returns their ids. */
export async function createUsers(database: Database, count: number): Promise<number[]> {
  const rows = await database.db
    .insert(users)
    .values(Array.from({ length: count }, () => ({ name: `Learner ${++seq}`, email: `learner-${process.pid}-${Date.now()}-${++seq}@example.test` })))
    .returning({ id: users.id });
  return rows.map((r) => r.id);
}

/** A coupler over `database` with quiet logs; options override the defaults. */
export function createCoupler(database: Database, options: Partial<CouplerOptions> = {}): ProgressLicenseCoupler {
  return new ProgressLicenseCoupler({ pool: database.pool, db: database.db, ...options });
}

/** Users enrolled in `specialization`, ready for level-ups. */
export async function enrolledUsers(database: Database, coupler: ProgressLicenseCoupler, count: number, specialization = "PLAYER") {
  const ids = await createUsers(database, count);
  for (const id of ids) await coupler.enroll(id, specialization);
  return ids;
}

/** Row counts of the coupled tables, to assert that a failed call wrote nothing. */
export async function snapshotTables(database: Database) {
  const { rows } = await database.db.execute<Record<string, string>>(sql`
    select (select count(*) from specialization_progress) as progress,
           (select count(*) from user_licenses) as licenses,
           (select count(*) from license_progressions) as history,
           (select count(*) from coupler_audit_log) as audit,
           (select count(*) from idempotency_keys) as keys,
           (select coalesce(sum(total_xp), 0) from specialization_progress) as xp,
           (select coalesce(sum(current_level), 0) from user_licenses) as license_levels,
           (select coalesce(sum(current_level), 0) from specialization_progress) as progress_levels`);
  return rows[0];
}
