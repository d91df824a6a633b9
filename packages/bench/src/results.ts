import type { CeilingResult } from "./ceiling/runCeiling.ts";
import type { CpuUsage } from "./cpu/cpuUsage.ts";
import type { Disturbance } from "./cpu/disturbance.ts";
import type { OperationResult } from "./k6Summary.ts";
import type { LockStats } from "./lockStats.ts";
import type { BenchPlan, PlannedRun } from "./plan.ts";
import type { PgLockWaits } from "./sampleLockWaits.ts";
import type { ScaleInfo } from "./scale/scaleInfo.ts";

/** Integrity audit counts after a run (core's runIntegrityAudit over every pair). */
export interface IntegrityCounts {
  desynced: number;
  orphans: number;
  missingHalves: number;
  historyGaps: number;
  /** Desynced pairs the bench repaired (sync from progress) so the next run starts clean. */
  repaired: number;
}

/** One run's outcome: a k6 scenario (with lock stats and audit) or a ceiling. */
export interface RunResult extends PlannedRun {
  operation: "levelUp" | "sync" | "validate";
  k6?: OperationResult & { exitCode: number };
  lock?: LockStats;
  /** Backends waiting on row locks, sampled from pg_stat_activity during the run. */
  pgLockWaits?: PgLockWaits;
  integrity?: IntegrityCounts;
  ceiling?: CeilingResult;
  /**
   * CPU over a window inside the measured phase, per part and per call: k6
   * runs from 1 s after the ramp-up to the end of the steady phase (calls =
   * steady throughput × window); the raw-pg worker over its measured seconds;
   * pgbench from start to exit (its client as the load generator).
   */
  cpu?: CpuUsage;
  /** Fixed-rate runs: iterations k6 could not start in time (the server fell behind the rate). */
  droppedIterations?: number;
  /** Why the run produced no figures (e.g. pgbench not installed, k6 crashed). */
  skipped?: string;
  /** Which round of its run this is (1-based); absent in results from before rounds (one round). */
  round?: number;
  /** CPU outside the run over its measured window; null where it could not be measured (no /proc, a part unread). */
  disturbance?: Disturbance | null;
  /** The outside share passed --max-outside-cpu on every attempt: its figures count only if every round was. */
  disturbed?: boolean;
  /** Outside shares of the earlier attempts of this round, thrown away as disturbed. */
  retriedOutsideShares?: number[];
}

export interface MachineInfo {
  hostname: string;
  os: string;
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  postgres: string;
  k6: string;
  pgbench: string | null;
}

/** Everything one `pnpm bench` measured; written as summary.json and read back by the report. */
export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  elapsedSeconds: number;
  plan: BenchPlan;
  machine: MachineInfo;
  /** How the stack was set up (pool sizes, lock timeout, guard, durability). */
  setup: {
    apiProcesses: number;
    poolSize: number;
    lockTimeoutMs: number;
    fsync: boolean;
    database: "embedded" | "DATABASE_URL" | "citus";
    /** On Citus: the workers (host:port) and the postmasters whose trees make up "postgres" CPU. */
    citus?: { workers: string[]; postmasterPids: number[] };
    /** The Node the API processes and the minimal server ran with (--node / BENCH_NODE, else the bench's own). */
    serverNode?: { binary: string; version: string };
    /** /proc's clock ticks per second; null where CPU could not be measured (no /proc). */
    clockTicksPerSecond?: number | null;
    /** The postmaster whose process tree is "postgres" in the CPU figures; null when not on this machine. */
    postmasterPid?: number | null;
    /** Rounds of the headline runs and the disturbance policy (absent before rounds existed: one round, none). */
    rounds?: number;
    maxOutsideShare?: number;
    disturbedRetries?: number;
  };
  /** What was measured: the git commit and whether its tree had changes (absent in older results). */
  source?: { commit: string | null; dirty: boolean | null };
  /** The Citus scale bench's setups (`plan.scale`), or why it was skipped; absent for other runs. */
  scale?: ScaleInfo;
  runs: RunResult[];
}

/**
 * Results as this version names them: a summary.json written before the
 * bench used core's operation names calls `validate` "validation" (scenario,
 * run id and operation); republishing it gives today's names.
 */
export function withCurrentNames(results: BenchResults): BenchResults {
  const rename = <T extends string>(name: T): T => ((name as string) === "validation" ? ("validate" as T) : name);
  return {
    ...results,
    plan: { ...results.plan, scenarios: results.plan.scenarios.map(rename) },
    runs: results.runs.map((run) => ({
      ...run,
      id: run.id.replace(/^validation-/, "validate-"),
      scenario: rename(run.scenario),
      operation: rename(run.operation),
    })),
  };
}
