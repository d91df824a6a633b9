import type { ChaosResult, ModeReport } from "./chaosResult.ts";

/**
 * A chaos run as RELIABILITY.md publishes it: what ran (command, seed, the
 * commit measured) and per mode the figures the doc quotes. Written by
 * `pnpm chaos --summary FILE`; committed under docs/reliability/, from where
 * renderReliabilityRuns.ts renders the doc's section. Latencies in ms.
 */
export interface ReliabilityRun {
  /** The command line, to replay the run (`pnpm chaos …`). */
  command: string;
  /** The commit the run measured (git HEAD), or null outside a checkout. */
  commit: string | null;
  /** Whether the working tree had uncommitted changes (then the figures are not the commit's alone). */
  dirty: boolean | null;
  seed: number;
  startedAt: string;
  wallMs: number;
  server: ChaosResult["options"]["server"];
  clients: number;
  learners: number;
  /** Citus: shards per distributed table (`--shards`; 32, Citus's default, when not given). */
  shards?: number;
  /** Coupler and http violations summed (must be 0). */
  violations: number;
  modes: ReliabilityMode[];
}

export interface ReliabilityMode {
  mode: ModeReport["mode"];
  calls: number;
  attempts: number;
  /** Calls whose outcome was still unknown at the end (must be 0 for coupler and http). */
  unresolved: number;
  violations: number;
  xp: ModeReport["xp"];
  /** Backends terminated: from outside on the server/coordinator and on the workers, and by the in-transaction hooks. */
  kills: { coordinator: number; workers: number; workersDirect: number; inTransaction: number };
  restarts: number;
  /** Shard moves that finished: the growth's rebalance and drain, or the one mid-run move. */
  moves: number;
  /** Failed attempts the system answered (chaos's own aborts and injected errors left out), by code; each was retried. */
  retryableErrors: Record<string, number>;
  worstLatencyMs: number;
  /** While the cluster changed (growth or move): calls, the system's failed attempts by code, the worst latency. */
  duringChange?: { durationMs: number; calls: number; retryableErrors: Record<string, number>; worstLatencyMs: number };
  routing?: ModeReport["routing"];
  combinedCalls?: number;
}

/** Attempt errors the chaos client caused itself: its aborts and the in-process injected errors. */
const CLIENT_CAUSED = new Set(["ABORTED", "INJECTED"]);

/** The published summary of `result`, run as `command` on `source`. */
export function summarizeRun(
  result: ChaosResult,
  command: string,
  source: { commit: string | null; dirty: boolean | null },
): ReliabilityRun {
  return {
    command,
    commit: source.commit,
    dirty: source.dirty,
    seed: result.seed,
    startedAt: result.startedAt,
    wallMs: result.durationMs,
    server: result.options.server,
    clients: result.options.clients,
    learners: result.options.learners,
    ...(result.options.server === "citus" ? { shards: result.options.shards ?? 32 } : {}),
    violations: result.couplerViolations,
    modes: result.modes.map(summarizeMode),
  };
}

function summarizeMode(m: ModeReport): ReliabilityMode {
  const f = m.faults;
  const change = m.growth ?? m.move;
  const moves = m.growth
    ? m.growth.error
      ? 0
      : m.growth.rebalanceMoves + m.growth.drainMoves
    : m.move && !m.move.error
      ? 1
      : 0;
  return {
    mode: m.mode,
    calls: m.operations.total,
    attempts: m.operations.attempts,
    unresolved: m.operations.pending,
    violations: m.violationCount,
    xp: m.xp,
    kills: {
      coordinator: f.killBackend,
      workers: f.killWorkerBackend,
      workersDirect: m.routing?.workerKillsOfDirectConnections ?? 0,
      inTransaction: f.killBeforeBegin + f.killMidTransaction + f.killBeforeCommit + f.killDuringCommit,
    },
    restarts: f.restart + f.restartWorker,
    moves,
    retryableErrors: systemErrors(m.attemptErrors),
    worstLatencyMs: m.worstLatencyMs,
    ...(change
      ? {
          duringChange: {
            durationMs: change.durationMs,
            calls: change.callsDuring,
            retryableErrors: systemErrors(change.attemptErrorsDuring),
            worstLatencyMs: change.worstLatencyDuringMs,
          },
        }
      : {}),
    ...(m.routing ? { routing: m.routing } : {}),
    ...(m.combined ? { combinedCalls: m.combined.calls } : {}),
  };
}

function systemErrors(errors: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(errors).filter(([code]) => !CLIENT_CAUSED.has(code)));
}
