import type pg from "pg";

/**
 * Row-lock waits seen from PostgreSQL's side: how many backends were waiting
 * on a heavyweight lock (wait_event_type = 'Lock'), sampled during a run. An
 * independent check of the API's lock-wait histogram, which times the two
 * SELECT … FOR UPDATE statements including their round trips.
 */
export interface PgLockWaits {
  samples: number;
  /** Mean number of backends waiting on a lock per sample. */
  avgWaiting: number;
  maxWaiting: number;
  /** Share of samples in which at least one backend waited. */
  shareWithWaiters: number;
}

export function sampleLockWaits(pool: pg.Pool, intervalMs = 250): { stop(): Promise<PgLockWaits> } {
  const counts: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const { rows } = await pool
        .query<{ n: number }>(
          "select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()",
        )
        .catch(() => ({ rows: [] as { n: number }[] }));
      const n = rows[0]?.n;
      if (n !== undefined) counts.push(n);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const total = counts.reduce((a, b) => a + b, 0);
      return {
        samples: counts.length,
        avgWaiting: counts.length > 0 ? total / counts.length : 0,
        maxWaiting: Math.max(0, ...counts),
        shareWithWaiters: counts.length > 0 ? counts.filter((n) => n > 0).length / counts.length : 0,
      };
    },
  };
}
