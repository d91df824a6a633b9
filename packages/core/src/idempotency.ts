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
 */
export async function purgeExpiredIdempotencyKeys(db: Queryable, options: PurgeOptions = {}): Promise<number> {
  const retentionMs = options.retentionMs ?? DEFAULT_IDEMPOTENCY_RETENTION_MS;
  const batchSize = options.batchSize ?? 500;
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  if (!(retentionMs >= 0) || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`purgeExpiredIdempotencyKeys: retentionMs must be >= 0 and batchSize a positive integer (got ${retentionMs}, ${batchSize})`);
  }
  const table = `"${getTableName(idempotencyKeys)}"`;
  const statement = `
    delete from ${table} k using (
      select user_id, specialization_id, caller, key from ${table}
      where created_at <= now() - make_interval(secs => $1::double precision / 1000)
      order by created_at limit $2
      for update skip locked
    ) expired
    where (k.user_id, k.specialization_id, k.caller, k.key) = (expired.user_id, expired.specialization_id, expired.caller, expired.key)`;
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const { rowCount } = await db.query(statement, [retentionMs, batchSize]);
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < batchSize) break;
  }
  return deleted;
}
