import { sumOf, type Sample } from "./prometheus.ts";

/**
 * Lock figures of one operation over one run: the difference of the API's
 * counters and histograms between a scrape before and one after the run.
 */
export interface LockStats {
  /** Coupler calls the API counted (all outcomes). */
  operations: number;
  errors: number;
  /** Errors by core code (LOCK_TIMEOUT, DEADLOCK, ...). */
  errorsByCode: Record<string, number>;
  /** Calls that found their pair busy and waited, whatever the cause (`coupler_lock_contention_total`, all causes). */
  contended: number;
  /** contended / calls that took locks. */
  contentionShare: number;
  /**
   * Of the calls that took locks, the share whose lock statement found the
   * pair's rows held by another transaction (`cause="row_lock"`): database
   * contention. Undefined when the API did not label causes (an older build).
   */
  rowLockShare?: number | undefined;
  /**
   * Of the calls that took locks, the share that only waited in memory behind
   * their process's transaction on the pair (`cause="queue"`, write combining).
   * Undefined when the API did not label causes.
   */
  queueShare?: number | undefined;
  lockWaitAvgMs: number;
  /** Estimated from the histogram buckets (upper bound of the bucket holding the 95th percentile). */
  lockWaitP95Ms: number;
  deadlocks: number;
  retries: number;
}

/** The lock figures of `operation` between two scrapes. */
export function lockStats(before: Sample[], after: Sample[], operation: string): LockStats {
  const delta = (name: string, where: Record<string, string> = {}) =>
    sumOf(after, name, where) - sumOf(before, name, where);
  const op = { operation };
  const waits = delta("coupler_lock_wait_seconds_count", op);
  const contended = delta("coupler_lock_contention_total", op);
  // An API from before the cause label (a --before-api build) counts contended calls without saying why.
  const labelled =
    contended === 0 || after.some((s) => s.name === "coupler_lock_contention_total" && s.labels.cause !== undefined);
  const share = (cause: string) =>
    labelled ? (waits > 0 ? delta("coupler_lock_contention_total", { operation, cause }) / waits : 0) : undefined;
  const errorsByCode: Record<string, number> = {};
  for (const s of after) {
    if (s.name !== "coupler_operations_total" || s.labels.operation !== operation || s.labels.outcome !== "error")
      continue;
    const code = s.labels.code ?? "unknown";
    errorsByCode[code] ??= delta("coupler_operations_total", { operation, outcome: "error", code });
  }
  return {
    operations: delta("coupler_operations_total", op),
    errors: delta("coupler_operations_total", { operation, outcome: "error" }),
    errorsByCode: Object.fromEntries(Object.entries(errorsByCode).filter(([, n]) => n > 0)),
    contended,
    contentionShare: waits > 0 ? contended / waits : 0,
    rowLockShare: share("row_lock"),
    queueShare: share("queue"),
    lockWaitAvgMs: waits > 0 ? (delta("coupler_lock_wait_seconds_sum", op) / waits) * 1000 : 0,
    lockWaitP95Ms: histogramQuantile(before, after, "coupler_lock_wait_seconds", operation, 0.95) * 1000,
    deadlocks: delta("coupler_deadlocks_total"),
    retries: delta("coupler_retries_total", op),
  };
}

/** The upper bound of the bucket where the q-quantile of the run's observations falls. */
function histogramQuantile(before: Sample[], after: Sample[], name: string, operation: string, q: number): number {
  const buckets = new Map<number, number>();
  for (const [samples, sign] of [
    [after, 1],
    [before, -1],
  ] as const) {
    for (const s of samples) {
      if (s.name !== `${name}_bucket` || s.labels.operation !== operation || s.labels.le === undefined) continue;
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + sign * s.value);
    }
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total <= 0) return 0;
  for (const [le, cumulative] of sorted) {
    if (cumulative >= q * total) return Number.isFinite(le) ? le : (sorted.at(-2)?.[0] ?? 0);
  }
  return 0;
}
