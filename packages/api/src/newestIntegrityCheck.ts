import type { MetricObjectWithValues, MetricValue } from "prom-client";

type Share = MetricObjectWithValues<MetricValue<string>>[];

/** When a worker's last integrity check finished (Unix seconds); ApiMetrics sets it with the findings. */
const CHECKED_AT = "coupler_integrity_last_check_timestamp_seconds";

/** The gauges that hold one integrity check's findings (ApiMetrics.recordIntegrity sets them together). */
const FINDINGS = new Set([
  "progress_license_desync_count",
  "orphan_record_count",
  "coupler_integrity_findings",
  CHECKED_AT,
]);

/**
 * The workers' metric shares with the integrity gauges left only in the
 * share whose check finished last, so the aggregate reports the newest check
 * of the one database they all watch. Taking the maximum over the workers
 * kept a repaired desync at 1 until every worker's own periodic check had run
 * again (up to INTEGRITY_CHECK_INTERVAL_MS, 60 s), while the `admin.integrity`
 * call that proved the repair had refreshed only the worker that ran it; and
 * `CouplerDesyncedPairs` pages after one minute (issue 24). A share without a
 * check yet keeps nothing of them; none with a check: the shares unchanged.
 */
export function keepNewestIntegrityCheck(shares: Share[]): Share[] {
  const checkedAt = (share: Share) =>
    Math.max(0, ...(share.find((m) => m.name === CHECKED_AT)?.values.map((v) => v.value) ?? []));
  let newest: Share | undefined;
  for (const share of shares) if (checkedAt(share) > (newest ? checkedAt(newest) : 0)) newest = share;
  if (!newest) return shares;
  return shares.map((share) => (share === newest ? share : share.filter((m) => !FINDINGS.has(m.name))));
}
