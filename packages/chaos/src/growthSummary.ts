import type { GrowthReport } from "./growCluster.ts";
import type { History } from "./history.ts";

/** A growth as the run reports it: the steps, then what the clients saw while it ran (latencies in ms). */
export interface GrowthSummary extends Omit<GrowthReport, "startedAt" | "endedAt"> {
  durationMs: number;
  /** Calls that started while the growth ran. */
  callsDuringGrowth: number;
  /** Failed attempts of those calls by code (each retried, or resolved after the faults, unless the checker says otherwise). */
  attemptErrorsDuringGrowth: Record<string, number>;
  /** The longest wait of a call that started during the growth, retries included. */
  worstLatencyDuringGrowthMs: number;
  /** The longest wait of any call of the mode. */
  worstLatencyMs: number;
  /** Learners whose co-located shards were checked to sit on one node at the end. */
  learnersChecked: number;
}

/** Sums up the calls of `history` that overlapped the growth of `report`. */
export function summarizeGrowth(history: History, report: GrowthReport, learnersChecked: number): GrowthSummary {
  const { startedAt, endedAt, ...steps } = report;
  const during = history.ops.filter(
    (op) => op.startedAt !== undefined && op.startedAt >= startedAt && op.startedAt <= endedAt,
  );
  const attemptErrorsDuringGrowth: Record<string, number> = {};
  for (const op of during)
    for (const code of op.errors) attemptErrorsDuringGrowth[code] = (attemptErrorsDuringGrowth[code] ?? 0) + 1;
  const worst = (ops: typeof history.ops) => ops.reduce((max, op) => Math.max(max, op.latencyMs ?? 0), 0);
  return {
    ...steps,
    durationMs: Math.round(endedAt - startedAt),
    callsDuringGrowth: during.length,
    attemptErrorsDuringGrowth,
    worstLatencyDuringGrowthMs: worst(during),
    worstLatencyMs: worst(history.ops),
    learnersChecked,
  };
}
