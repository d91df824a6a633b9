import { levelForXp, type SpecializationRules } from "@coupler/core";
import type pg from "pg";

/**
 * The coupler's level-up transaction, statement for statement, issued straight
 * through `pg`: no HTTP, no tRPC, no Drizzle, no validation or observer. It is
 * the ceiling the API's level-up is measured against. Keep it in step with
 * `ProgressLicenseCoupler.levelUpAtomic` and with `PGBENCH_SCRIPT` below.
 */
export const LEVEL_UP_SQL = {
  // BEGIN and SET LOCAL share one round trip, as in core's runTransaction.
  begin: (lockTimeoutMs: number) => `BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE; SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)}`,
  lockProgress: `SELECT * FROM specialization_progress WHERE student_id = $1 AND specialization_id = $2 FOR UPDATE`,
  lockLicense: `SELECT * FROM user_licenses WHERE user_id = $1 AND specialization_type = $2 FOR UPDATE`,
  updateProgress: `UPDATE specialization_progress SET current_level = $1, total_xp = $2, completed_sessions = $3, updated_at = now() WHERE id = $4`,
  updateLicense: `UPDATE user_licenses SET current_level = $1, max_achieved_level = $2, updated_at = now() WHERE id = $3`,
  insertHistory: `INSERT INTO license_progressions (user_id, user_license_id, from_level, to_level, reason, actor) VALUES ($1, $2, $3, $4, 'level-up', $5)`,
  insertAudit: `INSERT INTO coupler_audit_log (operation, user_id, specialization_id, xp_delta, sessions_delta, from_level, to_level, actor, idempotency_key, outcome)
    VALUES ('levelUp', $1, $2, $3, $4, $5, $6, $7, NULL, 'applied')`,
} as const;

interface ProgressRow {
  id: number;
  current_level: number;
  total_xp: string;
  completed_sessions: number;
}

interface LicenseRow {
  id: number;
  current_level: number;
  max_achieved_level: number;
}

/** One level-up on `client`, committed or rolled back. */
export async function levelUpTransaction(
  client: pg.ClientBase,
  rules: SpecializationRules,
  input: { userId: number; xpGained: number; sessionsCompleted: number; lockTimeoutMs: number; actor: string },
): Promise<void> {
  await client.query(LEVEL_UP_SQL.begin(input.lockTimeoutMs));
  try {
    const { rows: progressRows } = await client.query<ProgressRow>(LEVEL_UP_SQL.lockProgress, [input.userId, rules.id]);
    const { rows: licenseRows } = await client.query<LicenseRow>(LEVEL_UP_SQL.lockLicense, [input.userId, rules.id]);
    const progress = progressRows[0];
    const license = licenseRows[0];
    if (!progress || !license) throw new Error(`learner ${input.userId} is not enrolled in ${rules.id}`);
    const totalXp = Number(progress.total_xp) + input.xpGained;
    const floor = Math.max(progress.current_level, license.current_level);
    const newLevel = levelForXp(rules, totalXp, Math.min(floor, rules.maxLevel));
    const maxAchieved = Math.max(license.max_achieved_level, newLevel);
    await client.query(LEVEL_UP_SQL.updateProgress, [newLevel, totalXp, progress.completed_sessions + input.sessionsCompleted, progress.id]);
    if (license.current_level !== newLevel || license.max_achieved_level !== maxAchieved) {
      await client.query(LEVEL_UP_SQL.updateLicense, [newLevel, maxAchieved, license.id]);
    }
    if (license.current_level !== newLevel) {
      await client.query(LEVEL_UP_SQL.insertHistory, [input.userId, license.id, license.current_level, newLevel, input.actor]);
    }
    await client.query(LEVEL_UP_SQL.insertAudit, [
      input.userId,
      rules.id,
      input.xpGained,
      input.sessionsCompleted,
      license.current_level,
      newLevel,
      input.actor,
    ]);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

/**
 * The same transaction as a pgbench script, for the PLAYER curve
 * (min XP of level L = 100·(L−1)·L/2, so L = ⌊(1 + √(1 + 8·xp/100)) / 2⌋, at most 10).
 * Variables `first` and `last` bound the learners, `xpmin` and `xpmax` the XP (pgbench -D).
 */
export function pgbenchScript(lockTimeoutMs: number): string {
  return `\\set uid random(:first, :last)
\\set xp random(:xpmin, :xpmax)
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)};
SELECT id AS pid, current_level AS plevel, total_xp AS pxp, completed_sessions AS psessions FROM specialization_progress WHERE student_id = :uid AND specialization_id = 'PLAYER' FOR UPDATE \\gset
SELECT id AS lid, current_level AS llevel, max_achieved_level AS lmax FROM user_licenses WHERE user_id = :uid AND specialization_type = 'PLAYER' FOR UPDATE \\gset
\\set newxp :pxp + :xp
\\set newlevel least(10, greatest(:plevel, :llevel, int((1 + sqrt(1 + 8 * :newxp / 100.0)) / 2)))
\\set newmax greatest(:lmax, :newlevel)
UPDATE specialization_progress SET current_level = :newlevel, total_xp = :newxp, completed_sessions = :psessions + 1, updated_at = now() WHERE id = :pid;
\\if :newlevel != :llevel
UPDATE user_licenses SET current_level = :newlevel, max_achieved_level = :newmax, updated_at = now() WHERE id = :lid;
INSERT INTO license_progressions (user_id, user_license_id, from_level, to_level, reason, actor) VALUES (:uid, :lid, :llevel, :newlevel, 'level-up', 'pgbench');
\\elif :newmax != :lmax
UPDATE user_licenses SET current_level = :newlevel, max_achieved_level = :newmax, updated_at = now() WHERE id = :lid;
\\endif
INSERT INTO coupler_audit_log (operation, user_id, specialization_id, xp_delta, sessions_delta, from_level, to_level, actor, idempotency_key, outcome) VALUES ('levelUp', :uid, 'PLAYER', :xp, 1, :llevel, :newlevel, 'pgbench', NULL, 'applied');
COMMIT;
`;
}
