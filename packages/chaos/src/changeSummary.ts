import type { GrowthReport } from "./growCluster.ts";
import type { History } from "./history.ts";
import type { MoveReport } from "./moveShard.ts";

/**
 * A change of the cluster (a growth, a shard move) as the run reports it:
 * its steps, then what the clients saw while it ran (latencies in ms).
 */
export type ChangeSummary<Report extends { startedAt: number; endedAt: number }> = Omit<
  Report,
  "startedAt" | "endedAt"
> & {
  durationMs: number;
  /** Calls that started while the change ran. */
  callsDuring: number;
  /** Failed attempts of those calls by code (each retried, or resolved after the faults, unless the checker says otherwise). */
  attemptErrorsDuring: Record<string, number>;
  /** The longest wait of a call that started during the change, retries included. */
  worstLatencyDuringMs: number;
  /** Learners whose co-located shards were checked to sit on one node at the end. */
  learnersChecked: number;
};

export type GrowthSummary = ChangeSummary<GrowthReport>;
export type MoveSummary = ChangeSummary<MoveReport>;

/** Sums up the calls of `history` that started while the change of `report` ran. */
export function summarizeChange<Report extends { startedAt: number; endedAt: number }>(
  history: History,
  report: Report,
  learnersChecked: number,
): ChangeSummary<Report> {
  const { startedAt, endedAt, ...steps } = report;
  const during = history.ops.filter(
    (op) => op.startedAt !== undefined && op.startedAt >= startedAt && op.startedAt <= endedAt,
  );
  const attemptErrorsDuring: Record<string, number> = {};
  for (const op of during)
    for (const code of op.errors) attemptErrorsDuring[code] = (attemptErrorsDuring[code] ?? 0) + 1;
  return {
    ...steps,
    durationMs: Math.round(endedAt - startedAt),
    callsDuring: during.length,
    attemptErrorsDuring,
    worstLatencyDuringMs: during.reduce((max, op) => Math.max(max, op.latencyMs ?? 0), 0),
    learnersChecked,
  };
}
