import { DEFAULT_IDEMPOTENCY_RETENTION_MS, levelForXp, type LevelUpResult, type SpecializationRules } from "@coupler/core";
import type pg from "pg";

/** SQLSTATE 55P03: a NOWAIT lock found the row held. */
const LOCK_NOT_AVAILABLE = "55P03";

/** Which writes one level-up makes, as in core's `writeChange` (no idempotency key here). */
export interface WriteShape {
  license: boolean;
  history: boolean;
}

/**
 * The coupler's level-up transaction, statement for statement, issued straight
 * through `pg`: no HTTP, no tRPC, no Drizzle, no validation or observer. It is
 * the ceiling the API's level-up is measured against. Keep it in step with
 * core's `coupler/statements.ts` (`lockPair`, `write`), `lockPair.ts` and
 * `operations/levelUp.ts`, and with `pgbenchScript` below:
 *
 * BEGIN; SET LOCAL lock_timeout (one round trip); one SELECT locking both rows
 * `FOR UPDATE OF progress, license` with the idempotency lookup, first NOWAIT
 * (a held row restarts the transaction and waits, as the coupler's contention
 * probe did before write combining; the coupler now asks inside its one lock
 * statement, and takes its keys and audit rows as arrays, so a lone call is
 * the same four round trips with slightly larger statements);
 * one INSERT of the audit row with the progress, license and history writes as
 * data-modifying CTEs; COMMIT. Named statements, prepared once per connection,
 * as the coupler's default `preparedStatements: true`.
 */
/** The call's idempotency key in its scope (learner, specialization, caller), as core's `keyOf`. */
const KEY_OF_CALL = "k.user_id = @userId AND k.specialization_id = @specialization AND k.caller = @caller AND k.key = @key";

export const LEVEL_UP_SQL = {
  begin: (lockTimeoutMs: number) => `BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE; SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)}`,
  lockPair: (mode: "wait" | "nowait") =>
    `WITH expired_key AS (DELETE FROM idempotency_keys k WHERE ${KEY_OF_CALL} AND k.created_at <= now() - make_interval(secs => @retentionMs::double precision / 1000))
     SELECT p.id AS progress_id, p.current_level AS progress_level, p.total_xp, p.completed_sessions,
       l.id AS license_id, l.current_level AS license_level, l.max_achieved_level,
       k.request_hash, k.response
     FROM specialization_progress p
     JOIN user_licenses l ON l.user_id = @userId AND l.specialization_type = @specialization
     LEFT JOIN idempotency_keys k ON ${KEY_OF_CALL} AND k.created_at > now() - make_interval(secs => @retentionMs::double precision / 1000)
     WHERE p.student_id = @userId AND p.specialization_id = @specialization
     FOR UPDATE OF p, l${mode === "nowait" ? " NOWAIT" : ""}`,
  write: (shape: WriteShape) => {
    const ctes = [
      `progress AS (UPDATE specialization_progress SET current_level = @newLevel, total_xp = @totalXp, completed_sessions = @completedSessions, updated_at = now() WHERE student_id = @userId AND id = @progressId)`,
    ];
    if (shape.license) {
      ctes.push(`license AS (UPDATE user_licenses SET current_level = @newLevel, max_achieved_level = @maxAchievedLevel, updated_at = now() WHERE user_id = @userId AND id = @licenseId)`);
    }
    if (shape.history) {
      ctes.push(
        `history AS (INSERT INTO license_progressions (user_id, user_license_id, from_level, to_level, reason, actor) VALUES (@userId, @licenseId, @fromLevel, @newLevel, 'level-up', @actor))`,
      );
    }
    return `WITH ${ctes.join(", ")}
      INSERT INTO coupler_audit_log (operation, user_id, specialization_id, xp_delta, sessions_delta, from_level, to_level, actor, idempotency_key, outcome)
      VALUES ('levelUp', @userId, @specialization, @xpGained, @sessionsCompleted, @fromLevel, @newLevel, @actor, NULL, 'applied')`;
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

/** A held row under the NOWAIT probe: the transaction restarts and waits. */
class LocksHeld extends Error {}

/** One level-up on `client`, committed or rolled back; answers what the coupler's levelUp answers. */
export async function levelUpTransaction(client: pg.ClientBase, rules: SpecializationRules, input: LevelUpInput): Promise<LevelUpResult> {
  try {
    return await attempt(client, rules, input, "nowait");
  } catch (error) {
    if (!(error instanceof LocksHeld)) throw error;
    return attempt(client, rules, input, "wait");
  }
}

async function attempt(client: pg.ClientBase, rules: SpecializationRules, input: LevelUpInput, mode: "wait" | "nowait"): Promise<LevelUpResult> {
  await client.query(LEVEL_UP_SQL.begin(input.lockTimeoutMs));
  try {
    const locked = await client
      .query<PairRow>({ name: `ceiling_lock_pair_${mode}`, ...bind(LEVEL_UP_SQL.lockPair(mode), { userId: input.userId, specialization: rules.id, caller: input.actor, key: "", retentionMs: DEFAULT_IDEMPOTENCY_RETENTION_MS }) })
      .catch((error: unknown) => {
        throw mode === "nowait" && (error as { code?: unknown }).code === LOCK_NOT_AVAILABLE ? new LocksHeld() : error;
      });
    const pair = locked.rows[0];
    if (!pair) throw new Error(`learner ${input.userId} is not enrolled in ${rules.id}`);
    const totalXp = Number(pair.total_xp) + input.xpGained;
    const completedSessions = pair.completed_sessions + input.sessionsCompleted;
    const floor = Math.max(pair.progress_level, pair.license_level);
    const newLevel = levelForXp(rules, totalXp, Math.min(floor, rules.maxLevel));
    const maxAchievedLevel = Math.max(pair.max_achieved_level, newLevel);
    const levelChanged = pair.license_level !== newLevel;
    const shape = { license: levelChanged || pair.max_achieved_level !== maxAchievedLevel, history: levelChanged };
    await client.query({
      name: `ceiling_write_${shape.license ? "l" : ""}${shape.history ? "h" : ""}`,
      ...bind(LEVEL_UP_SQL.write(shape), {
        newLevel,
        totalXp,
        completedSessions,
        progressId: pair.progress_id,
        maxAchievedLevel,
        licenseId: pair.license_id,
        fromLevel: pair.license_level,
        actor: input.actor,
        userId: input.userId,
        specialization: rules.id,
        xpGained: input.xpGained,
        sessionsCompleted: input.sessionsCompleted,
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
 * pgbench cannot retry on NOWAIT, so it locks waiting (uncontended, the same work).
 */
export function pgbenchScript(lockTimeoutMs: number): string {
  const vars: Record<string, string> = {
    userId: ":uid",
    specialization: "'PLAYER'",
    caller: "'pgbench'",
    key: "''", // as the coupler: "" for no key (key = NULL would prune to no shard on Citus)
    retentionMs: "86400000",
    newLevel: ":newlevel",
    totalXp: ":newxp",
    completedSessions: ":psessions + 1",
    progressId: ":pid",
    maxAchievedLevel: ":newmax",
    licenseId: ":lid",
    fromLevel: ":llevel",
    actor: "'pgbench'",
    xpGained: ":xp",
    sessionsCompleted: "1",
  };
  const inline = (template: string) => template.replace(/\s+/g, " ").replace(/@(\w+)/g, (_, name: string) => vars[name] ?? `@${name}`);
  const lock = inline(LEVEL_UP_SQL.lockPair("wait"))
    .replace("p.id AS progress_id, p.current_level AS progress_level, p.total_xp, p.completed_sessions,", "p.id AS pid, p.current_level AS plevel, p.total_xp AS pxp, p.completed_sessions AS psessions,")
    .replace("l.id AS license_id, l.current_level AS license_level, l.max_achieved_level,", "l.id AS lid, l.current_level AS llevel, l.max_achieved_level AS lmax,")
    .replace("k.request_hash, k.response", "k.request_hash AS khash");
  return `\\set uid random(:first, :last)
\\set xp random(:xpmin, :xpmax)
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)};
${lock} \\gset
\\set newxp :pxp + :xp
\\set newlevel least(10, greatest(:plevel, :llevel, int((1 + sqrt(1 + 8 * :newxp / 100.0)) / 2)))
\\set newmax greatest(:lmax, :newlevel)
\\if :newlevel != :llevel
${inline(LEVEL_UP_SQL.write({ license: true, history: true }))};
\\elif :newmax != :lmax
${inline(LEVEL_UP_SQL.write({ license: true, history: false }))};
\\else
${inline(LEVEL_UP_SQL.write({ license: false, history: false }))};
\\endif
COMMIT;
`;
}
