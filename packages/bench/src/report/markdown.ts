import type { LockStats } from "../lockStats.ts";
import type { PgLockWaits } from "../sampleLockWaits.ts";

const ms = (v: number) => `${v.toFixed(2)} ms`;

/** A Markdown table. */
export function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/**
 * "found rows locked 0.4%, queued 12.0%": of the calls that took locks, the
 * share whose lock statement found the rows held by another transaction and
 * the share that only queued in memory behind their process's transaction
 * (write combining). Results from an API without the cause label give one
 * share: "0.4% found the pair busy".
 */
export function contentionShares(lock: LockStats): string {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  if (lock.rowLockShare === undefined || lock.queueShare === undefined)
    return `${pct(lock.contentionShare)} found the pair busy`;
  return `found rows locked ${pct(lock.rowLockShare)}, queued ${pct(lock.queueShare)}`;
}

/** "found rows locked 0.4%, queued 12.0% (avg lock wait 0.21 ms, p95 ≤ 0.50 ms)", with PostgreSQL's own view of lock waiters when sampled. */
export function contentionCell(lock: LockStats | undefined, pg?: PgLockWaits): string {
  if (!lock) return "n/a";
  const seen = pg
    ? `; PostgreSQL: a lock waiter in ${(pg.shareWithWaiters * 100).toFixed(0)}% of samples, ${pg.avgWaiting.toFixed(2)} waiting on average (max ${pg.maxWaiting})`
    : "";
  return `${contentionShares(lock)} (avg lock wait ${ms(lock.lockWaitAvgMs)}, p95 ≤ ${ms(lock.lockWaitP95Ms)})${seen}`;
}
