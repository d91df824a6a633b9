import { levelForXp, type LevelUpResult, type SpecializationRules } from "@coupler/core";
import type pg from "pg";

/** Which writes one level-up makes, as in the shape of core's write statement (`writeStatement.ts`; no idempotency key here, and progress always changes). */
export interface WriteShape {
  /** The progress row's level moves, so its UPDATE sets `current_level` (which fires the coupling guard). */
  progressLevel: boolean;
  license: boolean;
  history: boolean;
}

/**
 * The coupler's level-up transaction, statement for statement, issued straight
 * through `pg`: no HTTP, no tRPC, no Drizzle, no validation, combining or
 * observer. It is the ceiling the API's level-up is measured against. It
 * mirrors a lone call (a batch of one) as core sends it: keep it in step with
 * core's `coupler/statements.ts` (`Statements.lockPair`), `writeStatement.ts`
 * (a single row), `PairTransaction.ts`, `PendingWrites.ts` and
 * `operations/levelUp.ts`,
 * and with `pgbenchScript` below. The differential test compares the
 * statements both send, and the rows both leave.
 *
 * Four round trips: BEGIN with SET LOCAL lock_timeout; one SELECT locking
 * both rows `FOR UPDATE OF specialization_progress, user_licenses` (waiting,
 * no NOWAIT probe and no restart), which also asks, in an uncorrelated
 * EXISTS ... FOR UPDATE SKIP LOCKED that PostgreSQL runs first as an
 * InitPlan, whether another transaction held the progress row (the coupler's
 * contention measurement); as the coupler's lock statement for a call
 * without an idempotency key, it reads no stored key and deletes none. Then
 * one INSERT of the audit row with the progress, license and history writes
 * as data-modifying CTEs, each value a typed scalar parameter, the progress
 * row's level set only when it moves; COMMIT. Named statements, prepared
 * once per connection, as the coupler's default `preparedStatements: true`.
 */
const PROGRESS_OF_PAIR =
  "specialization_progress.student_id = @userId AND specialization_progress.specialization_id = @specialization";

export const LEVEL_UP_SQL = {
  begin: (lockTimeoutMs: number) =>
    `BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE; SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)}`,
  lockPair: `SELECT specialization_progress.id AS progress_id, specialization_progress.current_level AS progress_level,
       specialization_progress.total_xp, specialization_progress.completed_sessions,
       user_licenses.id AS license_id, user_licenses.current_level AS license_level, user_licenses.max_achieved_level,
       EXISTS (SELECT 1 FROM specialization_progress WHERE ${PROGRESS_OF_PAIR} FOR UPDATE SKIP LOCKED) AS free
     FROM specialization_progress
     JOIN user_licenses ON user_licenses.user_id = @userId AND user_licenses.specialization_type = @specialization
     WHERE ${PROGRESS_OF_PAIR}
     FOR UPDATE OF specialization_progress, user_licenses`,
  write: (shape: WriteShape) => {
    const ctes = [
      `progress AS (UPDATE specialization_progress SET ${shape.progressLevel ? "current_level = @newLevel::int, " : ""}total_xp = @totalXp::bigint, completed_sessions = @completedSessions::int, updated_at = now()
         WHERE specialization_progress.student_id = @userId::bigint AND specialization_progress.id = @progressId::bigint)`,
    ];
    if (shape.license) {
      ctes.push(`license AS (UPDATE user_licenses SET current_level = @newLevel::int, max_achieved_level = @maxAchievedLevel::int, updated_at = now()
         WHERE user_licenses.user_id = @userId::bigint AND user_licenses.id = @licenseId::bigint)`);
    }
    if (shape.history) {
      ctes.push(`history AS (INSERT INTO license_progressions (user_id, user_license_id, from_level, to_level, reason, actor)
         VALUES (@userId::bigint, @licenseId::bigint, @fromLevel::int, @newLevel::int, @reason::text, @actor::text))`);
    }
    return `WITH ${ctes.join(", ")}
      INSERT INTO coupler_audit_log (user_id, specialization_id, operation, xp_delta, sessions_delta, from_level, to_level, actor, idempotency_key, outcome)
      VALUES (@userId::bigint, @specialization::text, @operation::text, @xpGained::bigint, @sessionsCompleted::int, @fromLevel::int, @newLevel::int, @actor::text, @auditKey::text, @outcome::text)`;
  },
} as const;

/**
 * `@name` markers as `$1`, `$2`, … in order of first use, and the values in
 * that order: a statement binds only the parameters its shape uses
 * (PostgreSQL cannot type a parameter no clause refers to).
 */
export function bind(template: string, values: Record<string, unknown>): { text: string; values: unknown[] } {
  const names: string[] = [];
  const text = template.replace(/@(\w+)/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`no value for @${name}`);
    if (!names.includes(name)) names.push(name);
    return `$${names.indexOf(name) + 1}`;
  });
  return { text, values: names.map((name) => values[name]) };
}

interface PairRow {
  progress_id: number;
  progress_level: number;
  total_xp: string;
  completed_sessions: number;
  license_id: number;
  license_level: number;
  max_achieved_level: number;
}

export interface LevelUpInput {
  userId: number;
  xpGained: number;
  sessionsCompleted: number;
  lockTimeoutMs: number;
  actor: string;
}

/** One level-up on `client`, committed or rolled back; answers what the coupler's levelUp answers. */
export async function levelUpTransaction(
  client: pg.ClientBase,
  rules: SpecializationRules,
  input: LevelUpInput,
): Promise<LevelUpResult> {
  await client.query(LEVEL_UP_SQL.begin(input.lockTimeoutMs));
  try {
    const lockParams = { userId: input.userId, specialization: rules.id };
    const locked = await client.query<PairRow>({
      name: "ceiling_lock_pair",
      ...bind(LEVEL_UP_SQL.lockPair, lockParams),
    });
    const pair = locked.rows[0];
    if (!pair) throw new Error(`learner ${input.userId} is not enrolled in ${rules.id}`);
    const totalXp = Number(pair.total_xp) + input.xpGained;
    const completedSessions = pair.completed_sessions + input.sessionsCompleted;
    const floor = Math.max(pair.progress_level, pair.license_level);
    const newLevel = levelForXp(rules, totalXp, Math.min(floor, rules.maxLevel));
    const maxAchievedLevel = Math.max(pair.max_achieved_level, newLevel);
    const levelChanged = pair.license_level !== newLevel;
    const shape = {
      progressLevel: pair.progress_level !== newLevel,
      license: levelChanged || pair.max_achieved_level !== maxAchievedLevel,
      history: levelChanged,
    };
    await client.query({
      name: `ceiling_write_${shape.progressLevel ? "p" : "x"}${shape.license ? "l" : ""}${shape.history ? "h" : ""}`,
      ...bind(LEVEL_UP_SQL.write(shape), {
        newLevel,
        totalXp,
        completedSessions,
        progressId: pair.progress_id,
        maxAchievedLevel,
        licenseId: pair.license_id,
        fromLevel: pair.license_level,
        reason: "level-up",
        operation: "levelUp",
        actor: input.actor,
        userId: input.userId,
        specialization: rules.id,
        xpGained: input.xpGained,
        sessionsCompleted: input.sessionsCompleted,
        auditKey: null,
        outcome: "applied",
      }),
    });
    await client.query("COMMIT");
    return {
      userId: input.userId,
      specialization: rules.id,
      previousLevel: pair.progress_level,
      newLevel,
      totalXp,
      completedSessions,
      maxAchievedLevel,
      leveledUp: newLevel > pair.progress_level,
      replayed: false,
    };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

/**
 * The same transaction as a pgbench script, for the PLAYER curve
 * (min XP of level L = 100·(L−1)·L/2, so L = ⌊(1 + √(1 + 8·xp/100)) / 2⌋, at most 10).
 * Variables `first` and `last` bound the learners, `xpmin` and `xpmax` the XP (pgbench -D).
 * The pair's two levels are equal (the coupler keeps them so), so a level
 * change moves both and sets the progress row's level.
 */
export function pgbenchScript(lockTimeoutMs: number): string {
  const vars: Record<string, string> = {
    userId: ":uid",
    specialization: "'PLAYER'",
    newLevel: ":newlevel",
    totalXp: ":newxp",
    completedSessions: ":psessions + 1",
    progressId: ":pid",
    maxAchievedLevel: ":newmax",
    licenseId: ":lid",
    fromLevel: ":llevel",
    actor: "'pgbench'",
    reason: "'level-up'",
    operation: "'levelUp'",
    auditKey: "NULL",
    outcome: "'applied'",
    xpGained: ":xp",
    sessionsCompleted: "1",
  };
  const inline = (template: string) =>
    template.replace(/\s+/g, " ").replace(/@(\w+)/g, (_, name: string) => vars[name] ?? `@${name}`);
  const lock = inline(LEVEL_UP_SQL.lockPair)
    .replace(
      "specialization_progress.id AS progress_id, specialization_progress.current_level AS progress_level, specialization_progress.total_xp, specialization_progress.completed_sessions,",
      "specialization_progress.id AS pid, specialization_progress.current_level AS plevel, specialization_progress.total_xp AS pxp, specialization_progress.completed_sessions AS psessions,",
    )
    .replace(
      "user_licenses.id AS license_id, user_licenses.current_level AS license_level, user_licenses.max_achieved_level,",
      "user_licenses.id AS lid, user_licenses.current_level AS llevel, user_licenses.max_achieved_level AS lmax,",
    );
  return `\\set uid random(:first, :last)
\\set xp random(:xpmin, :xpmax)
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)};
${lock} \\gset
\\set newxp :pxp + :xp
\\set newlevel least(10, greatest(:plevel, :llevel, int((1 + sqrt(1 + 8 * :newxp / 100.0)) / 2)))
\\set newmax greatest(:lmax, :newlevel)
\\if :newlevel != :llevel
${inline(LEVEL_UP_SQL.write({ progressLevel: true, license: true, history: true }))};
\\elif :newmax != :lmax
${inline(LEVEL_UP_SQL.write({ progressLevel: false, license: true, history: false }))};
\\else
${inline(LEVEL_UP_SQL.write({ progressLevel: false, license: false, history: false }))};
\\endif
COMMIT;
`;
}
