import { getTableName } from "drizzle-orm";
import { idempotencyKeys } from "./schema.ts";

/** How long an idempotency key is remembered unless the coupler is told otherwise: 24 h. */
export const DEFAULT_IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Anything that runs a query: a pg Pool, a Client or a PoolClient. */
export interface Queryable {
  query<R extends object>(text: string, values?: unknown[]): Promise<{ rows: R[]; rowCount: number | null }>;
}

export interface PurgeOptions {
  /** Keys older than this are deleted, in ms (default 24 h; use the coupler's `idempotencyRetentionMs`). */
  retentionMs?: number;
  /** Keys deleted per statement (default 500). */
  batchSize?: number;
  /** Stop after this many batches, to bound one run (default: until none are left). */
  maxBatches?: number;
}

/**
 * Deletes idempotency keys older than the retention, a batch per statement,
 * each statement its own transaction, and returns how many it deleted. Rows
 * another transaction holds are skipped (SKIP LOCKED), so a purge never waits
 * on a writer and holds its own row locks only for one small batch. The
 * coupler already ignores expired keys, so how often this runs changes only
 * the table's size, never what a call sees.
 *
 * On Citus (`idempotency_keys` distributed, see citus.ts) the same statement
 * runs on every shard instead, through `run_command_on_shards`: Citus does not
 * push `FOR UPDATE SKIP LOCKED` down to the shards of a multi-shard query. A
 * batch is then up to `batchSize` keys per shard, each shard's delete its own
 * transaction on its worker, the shards in parallel; no two-phase commit, and
 * no lock is held across shards.
 */
export async function purgeExpiredIdempotencyKeys(db: Queryable, options: PurgeOptions = {}): Promise<number> {
  const retentionMs = options.retentionMs ?? DEFAULT_IDEMPOTENCY_RETENTION_MS;
  const batchSize = options.batchSize ?? 500;
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  if (!(retentionMs >= 0) || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `purgeExpiredIdempotencyKeys: retentionMs must be >= 0 and batchSize a positive integer (got ${retentionMs}, ${batchSize})`,
    );
  }
  const table = `"${getTableName(idempotencyKeys)}"`;
  const statement = (target: string, retention: string, limit: string) => `
    delete from ${target} k using (
      select user_id, specialization_id, caller, key from ${target}
      where created_at <= now() - make_interval(secs => ${retention}::double precision / 1000)
      order by created_at limit ${limit}
      for update skip locked
    ) expired
    where (k.user_id, k.specialization_id, k.caller, k.key) = (expired.user_id, expired.specialization_id, expired.caller, expired.key)`;
  const citus = await isDistributed(db, getTableName(idempotencyKeys));
  // On Citus the numbers are part of the command text (validated above: a number and an integer);
  // %1$s is where run_command_on_shards puts each shard's name.
  const perShard = statement("%1$s", String(retentionMs), String(batchSize));
  const plain = statement(table, "$1", "$2");
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    if (citus) {
      const { rows } = await db.query<{ shardid: string; success: boolean; result: string }>(
        "select shardid, success, result from run_command_on_shards($1::regclass, $2)",
        [table, perShard],
      );
      const failed = rows.find((r) => !r.success);
      if (failed) throw new Error(`purgeExpiredIdempotencyKeys: shard ${failed.shardid} failed: ${failed.result}`);
      const counts = rows.map((r) => Number(r.result.split(" ")[1] ?? 0));
      deleted += counts.reduce((a, b) => a + b, 0);
      if (Math.max(0, ...counts) < batchSize) break;
    } else {
      const { rowCount } = await db.query(plain, [retentionMs, batchSize]);
      deleted += rowCount ?? 0;
      if ((rowCount ?? 0) < batchSize) break;
    }
  }
  return deleted;
}

/** Whether `table` is a Citus distributed table here (false on plain PostgreSQL, where pg_dist_partition does not exist). */
export async function isDistributed(db: Queryable, table: string): Promise<boolean> {
  const { rows: citus } = await db.query<{ present: boolean }>(
    "select to_regclass('pg_catalog.pg_dist_partition') is not null as present",
  );
  if (citus[0]?.present !== true) return false;
  const { rows } = await db.query<{ distributed: boolean }>(
    "select exists (select 1 from pg_catalog.pg_dist_partition where logicalrelid = to_regclass($1)) as distributed",
    [`"${table}"`],
  );
  return rows[0]?.distributed === true;
}
