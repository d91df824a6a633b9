import type { IntegrityReport } from "@coupler/core";
import type { ChaosMode, ChaosOptions } from "./chaosOptions.ts";
import type { Violation } from "./checker.ts";
import type { FaultKind } from "./faults.ts";
import type { GrowthSummary, MoveSummary } from "./changeSummary.ts";
import type { OpKind } from "./history.ts";
import type { LegacyCounts } from "./legacyCounts.ts";

/** What a chaos run reports: per round, per mode, and in all (written as JSON by `pnpm chaos`). */
export interface RoundReport {
  round: number;
  durationMs: number;
  operations: number;
  /** Operations still unknown at the end of the round and retried after the faults stopped. */
  resolvedAfterFaults: number;
  /** Violations found by the end-of-round check. */
  violations: number;
  snapshots: number;
}

export interface ModeReport {
  mode: ChaosMode;
  database: string;
  rounds: RoundReport[];
  operations: {
    total: number;
    ok: number;
    failed: number;
    pending: number;
    attempts: number;
    byKind: Record<OpKind, number>;
  };
  /** Attempt failures by code (UNAVAILABLE, ABORTED, INJECTED, ...). */
  attemptErrors: Record<string, number>;
  /** The longest a call waited for its answer, retries and their back-off included (ms). */
  worstLatencyMs: number;
  faults: Record<FaultKind, number>;
  faultsTotal: number;
  snapshotsChecked: number;
  violationCount: number;
  /** Up to 50 violations, deduplicated. */
  violations: Violation[];
  integrity: IntegrityReport | undefined;
  /** --grow: what the cluster's growth did and what the clients saw meanwhile. */
  growth?: GrowthSummary;
  /** --citus without --grow: the mid-run move of one learner's shard group, and what the clients saw meanwhile. */
  move?: MoveSummary;
  /** Citus, coupler and http modes: how calls were routed, and what the routers counted. */
  routing?: {
    route: "direct" | "coordinator";
    /** Calls a stale map sent to a node that forwarded them (-1: the API's /metrics could not be read). */
    routeMisses: number;
    /** Times a router saw the worker map change (summed over the mode's routers). */
    mapChanges: number;
    /** Worker backends killed that the workload's own pools had opened (direct routing's connections). */
    workerKillsOfDirectConnections: number;
  };
  /** XP of the acknowledged level-ups, and XP in the learners' rows at the end (equal when no XP was lost or doubled). */
  xp: { acknowledged: number; stored: number };
  /** Coupler mode: calls that shared a transaction with others (write combining), and how many of those failed (faults that hit a batch). */
  combined?: { calls: number; failed: number; largestBatch: number };
  legacy?: LegacyCounts & {
    /** Desynced pairs seen by the mid-round snapshot checks (summed over snapshots). */
    desyncsObservedMidRound: number;
    /** validate calls that saw progress and license at different levels. */
    validatesSawDesync: number;
    /** validate calls that saw a broken history chain. */
    validatesSawHistoryGap: number;
  };
}

export interface ChaosResult {
  seed: number;
  startedAt: string;
  durationMs: number;
  options: Omit<ChaosOptions, "log" | "http" | "adminUrl" | "citus"> & { server: "embedded" | "external" | "citus" };
  modes: ModeReport[];
  /** Coupler and http violations (must be 0). */
  couplerViolations: number;
}
