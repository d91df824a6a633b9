import type { LockStats } from "../lockStats.ts";
import type { PgLockWaits } from "../sampleLockWaits.ts";

const ms = (v: number) => `${v.toFixed(2)} ms`;

/** A Markdown table. */
export function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

/** "0.4% found the pair busy (avg lock wait 0.21 ms, p95 ≤ 0.50 ms)": queued behind their process's transaction on it, or found its rows locked. */
export function contentionCell(lock: LockStats | undefined, pg?: PgLockWaits): string {
  if (!lock) return "n/a";
  const share = `${(lock.contentionShare * 100).toFixed(1)}%`;
  const seen = pg ? `; PostgreSQL: a lock waiter in ${(pg.shareWithWaiters * 100).toFixed(0)}% of samples, ${pg.avgWaiting.toFixed(2)} waiting on average (max ${pg.maxWaiting})` : "";
  return `${share} found the pair busy (avg lock wait ${ms(lock.lockWaitAvgMs)}, p95 ≤ ${ms(lock.lockWaitP95Ms)})${seen}`;
}

