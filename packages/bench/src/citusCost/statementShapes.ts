import { pgbenchScript } from "../ceiling/levelUpTransaction.ts";

/**
 * The shapes of one level-up that `citus:statement-cost` sends, each a
 * pgbench script over the same learner with the same results:
 * - `coupler`: the coupler's own statements (the ceiling's script), named
 *   and prepared once per connection, as the coupler sends them;
 * - `fast-path`: every statement a one-table query on the learner's
 *   distribution column (Citus's fast-path router queries), sent with
 *   literals so each is planned afresh, and `updated_at` a constant read
 *   once from `now()`: the cheapest way through Citus's planner there is;
 * - `shard-tables`: the same statements naming the learner's shard tables,
 *   ids drawn explicitly (a history or audit id after the learner's
 *   highest, as core's write statement draws them), after the claim on the
 *   shards (core's `ShardTables`: Citus's shard metadata lock, the
 *   learner-id-order lock, the placement check, and the setting that skips
 *   the learner-id-order trigger): what the coupler sends on the
 *   learner's worker under direct routing. Citus's planner and executor are
 *   left out.
 */
export const STATEMENT_SHAPES = ["coupler", "fast-path", "shard-tables"] as const;
export type StatementShape = (typeof STATEMENT_SHAPES)[number];

/** pgbench's protocol for each shape: prepared (named) statements, or literals planned every time. */
export const SHAPE_PROTOCOL: Record<StatementShape, "prepared" | "simple"> = {
  coupler: "prepared",
  "fast-path": "simple",
  "shard-tables": "prepared",
};

/** The tables a level-up writes, by which a learner's shard tables are named. */
export const LEVEL_UP_TABLES = [
  "specialization_progress",
  "user_licenses",
  "license_progressions",
  "coupler_audit_log",
] as const;

/** A learner's shard of each table (`shard_name` on a Citus node), and the sequences of the tables with ids. */
export interface ShardNames {
  tables: Record<(typeof LEVEL_UP_TABLES)[number], string>;
  sequences: { license_progressions: string; coupler_audit_log: string };
  /** The statements that claim the shards after BEGIN (`ShardTables.claimOn`, as text); none where there is no Citus. */
  claim: readonly string[];
}

/**
 * The sequences the inserted rows' ids come from (`pg_get_serial_sequence`
 * of the distributed table, or of the table on one server), through `query`.
 */
export async function idSequences(
  query: (text: string, values: unknown[]) => Promise<{ rows: { s: string }[] }>,
): Promise<ShardNames["sequences"]> {
  const sequence = async (table: string) =>
    (await query("select pg_get_serial_sequence($1, 'id') as s", [table])).rows[0]?.s ?? "";
  return {
    license_progressions: await sequence("license_progressions"),
    coupler_audit_log: await sequence("coupler_audit_log"),
  };
}

const AUDIT_COLUMNS =
  "user_id, specialization_id, operation, xp_delta, sessions_delta, from_level, to_level, actor, idempotency_key, outcome";
const AUDIT_VALUES =
  ":uid::bigint, 'PLAYER'::text, 'levelUp'::text, :xp::bigint, 1::int, :llevel::int, :newlevel::int, 'pgbench'::text, NULL::text, 'applied'::text";
const HISTORY_COLUMNS = "user_id, user_license_id, from_level, to_level, reason, actor";
const HISTORY_VALUES = ":uid::bigint, :lid::bigint, :llevel::int, :newlevel::int, 'level-up'::text, 'pgbench'::text";

/** `shape`'s pgbench script (variables `first`, `last`, `xpmin`, `xpmax`, as the ceiling's); `shards` for `shard-tables`. */
export function shapeScript(shape: StatementShape, lockTimeoutMs: number, shards?: ShardNames): string {
  if (shape === "coupler") return beginInOneRoundTrip(pgbenchScript(lockTimeoutMs));
  if (shape === "fast-path") return fastPathScript(lockTimeoutMs);
  if (!shards) throw new Error("shard-tables needs the learner's shard names");
  return beginInOneRoundTrip(onShardTables(pgbenchScript(lockTimeoutMs), shards));
}

/**
 * `script` with BEGIN and the statements after it up to the lock statement
 * sent in one round trip (a pgbench pipeline; prepared protocol only), as
 * the coupler sends them: BEGIN with SET LOCAL, or on a worker BEGIN with
 * the claim.
 */
function beginInOneRoundTrip(script: string): string {
  const begin = script.indexOf("BEGIN ");
  // The lock statement, the first that reads the pair (on shard tables too: their names start with the table's).
  const lock = script.indexOf("\nSELECT specialization_progress", begin) + 1;
  if (begin < 0 || lock <= 0) throw new Error("the script has no BEGIN followed by the lock statement");
  return `${script.slice(0, begin)}\\startpipeline\n${script.slice(begin, lock)}\\endpipeline\n${script.slice(lock)}`;
}

/**
 * The level-up as Citus fast-path router queries: the progress row and the
 * license row locked one statement each, each write a statement of its own.
 * `now()` is read by the first lock and sent back as a constant, because a
 * function call in a modification is evaluated before routing, and then
 * Citus deparses the shard query and parses it again instead of planning
 * the shard directly. The INSERTs still take that path: their id default
 * calls nextval.
 */
function fastPathScript(lockTimeoutMs: number): string {
  const progress = "student_id = :uid AND specialization_id = 'PLAYER'";
  return `\\set uid random(:first, :last)
\\set xp random(:xpmin, :xpmax)
BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;
SET LOCAL lock_timeout = ${Math.trunc(lockTimeoutMs)};
SELECT extract(epoch FROM now()) AS ts, id AS pid, current_level AS plevel, total_xp AS pxp, completed_sessions AS psessions FROM specialization_progress WHERE ${progress} FOR UPDATE \\gset
SELECT id AS lid, current_level AS llevel, max_achieved_level AS lmax FROM user_licenses WHERE user_id = :uid AND specialization_type = 'PLAYER' FOR UPDATE \\gset
\\set newxp :pxp + :xp
\\set newlevel least(10, greatest(:plevel, :llevel, int((1 + sqrt(1 + 8 * :newxp / 100.0)) / 2)))
\\set newmax greatest(:lmax, :newlevel)
\\if :newlevel != :llevel
UPDATE specialization_progress SET current_level = :newlevel::int, total_xp = :newxp::bigint, completed_sessions = :psessions + 1::int, updated_at = to_timestamp(:ts) WHERE student_id = :uid::bigint AND id = :pid::bigint;
UPDATE user_licenses SET current_level = :newlevel::int, max_achieved_level = :newmax::int, updated_at = to_timestamp(:ts) WHERE user_id = :uid::bigint AND id = :lid::bigint;
INSERT INTO license_progressions (${HISTORY_COLUMNS}) VALUES (${HISTORY_VALUES});
\\elif :newmax != :lmax
UPDATE specialization_progress SET total_xp = :newxp::bigint, completed_sessions = :psessions + 1::int, updated_at = to_timestamp(:ts) WHERE student_id = :uid::bigint AND id = :pid::bigint;
UPDATE user_licenses SET current_level = :newlevel::int, max_achieved_level = :newmax::int, updated_at = to_timestamp(:ts) WHERE user_id = :uid::bigint AND id = :lid::bigint;
\\else
UPDATE specialization_progress SET total_xp = :newxp::bigint, completed_sessions = :psessions + 1::int, updated_at = to_timestamp(:ts) WHERE student_id = :uid::bigint AND id = :pid::bigint;
\\endif
INSERT INTO coupler_audit_log (${AUDIT_COLUMNS}) VALUES (${AUDIT_VALUES});
COMMIT;
`;
}

/**
 * `script` with every level-up table replaced by the learner's shard of it,
 * the ids of the inserted rows drawn from the distributed table's sequence
 * (a shard table has no default for them) and ordered after the learner's
 * highest (as core's write statement orders them; the claim takes the lock),
 * and the claim in place of the SET LOCAL of the lock timeout (it sets the
 * timeout itself). Table names are replaced as whole words, so
 * `user_licenses` does not touch a shard's name.
 */
export function onShardTables(script: string, shards: ShardNames): string {
  const timeout = /^SET LOCAL lock_timeout = \d+;$/m;
  if (!timeout.test(script)) throw new Error("the script sets no lock timeout to claim the shards after");
  // The claim sets the lock timeout itself (no SET statement on a worker: see core's ShardTables.claimOn).
  let text = shards.claim.length > 0 ? script.replace(timeout, shards.claim.map((c) => `${c};`).join("\n")) : script;
  for (const table of LEVEL_UP_TABLES) text = text.replace(new RegExp(`\\b${table}\\b`, "g"), shards.tables[table]);
  for (const table of ["license_progressions", "coupler_audit_log"] as const) {
    const shard = shards.tables[table];
    const columns = table === "coupler_audit_log" ? AUDIT_COLUMNS : HISTORY_COLUMNS;
    const insert = `INSERT INTO ${shard} (${columns}) VALUES (`;
    if (!text.includes(insert)) throw new Error(`the script has no INSERT INTO ${table} to give ids to`);
    text = text.replaceAll(
      insert,
      `INSERT INTO ${shard} (id, ${columns}) VALUES (greatest(nextval('${shards.sequences[table]}'), (SELECT max(id) FROM ${shard} WHERE user_id = :uid::bigint) + 1), `,
    );
  }
  return text;
}
