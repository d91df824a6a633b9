import { sql } from "@coupler/core";
import type { TestDatabase } from "@coupler/testing";

/** Everything a level-up writes for one learner, without ids and timestamps: what "the same rows" means. */
export async function footprint(database: TestDatabase, userId: number) {
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
