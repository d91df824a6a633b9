import type { Database } from "@coupler/core";
import type { ChaosOptions } from "./chaosOptions.ts";
import { summarizeChange, type ChangeSummary, type GrowthSummary, type MoveSummary } from "./changeSummary.ts";
import type { Violation } from "./checker.ts";
import type { CitusFaultTargets } from "./citusTarget.ts";
import { checkLearnersOnOneNode, growCluster } from "./growCluster.ts";
import type { History } from "./history.ts";
import { moveLearnerShard } from "./moveShard.ts";
import type { Pair } from "./workload.ts";

/** A change of the Citus cluster running beside the workload (`--grow`, or the one shard move of `--citus`). */
export interface ClusterChange {
  /** True once the change ended (done or failed): the last round runs on until then. */
  readonly done: boolean;
  /** Waits for the change, checks every learner's rows on one node, records a failed change as a violation. */
  finish(
    history: History,
    pairs: Pair[],
    record: (violations: Violation[]) => number,
  ): Promise<{ growth: GrowthSummary } | { move: MoveSummary }>;
}

/**
 * Starts growCluster on this mode's database (the cluster's first spare in,
 * its first worker out), 15% into the mode's time.
 */
export function startGrowth(
  options: ChaosOptions,
  admin: Database,
  database: string,
  log: (line: string) => void,
): ClusterChange {
  const spare = options.citus?.spares?.[0];
  const drain = options.citus?.workers[0];
  if (!spare || !drain) throw new Error("--grow needs a Citus cluster started here with a spare node");
  const running = growCluster(admin.pool, database, {
    spare,
    drain,
    startAfterMs: Math.floor(options.durationMs * 0.15),
    timeoutMs: 300_000,
    log,
  });
  return changeOf(admin, running, {
    removed: (report) => report.removed,
    invariant: "GROWTH_COMPLETED",
    summary: (growth) => ({ growth }),
  });
}

/**
 * Starts the move of a hot learner's shard group to another worker (from the
 * highest group to the lowest, moveShard.ts), 40% into the mode's time,
 * while no worker restarts (`targets.exclusive`).
 */
export function startMove(
  options: ChaosOptions,
  admin: Database,
  pairs: Pair[],
  targets: CitusFaultTargets,
  log: (line: string) => void,
): ClusterChange {
  if (pairs.length === 0) throw new Error("a shard move needs a learner");
  const running = moveLearnerShard(admin.pool, {
    userIds: [...new Set(pairs.map((p) => p.userId))],
    // 40% in: mid-round whether there are 1, 2 or 3 rounds (not in the pause between two, where no call runs).
    startAfterMs: Math.floor(options.durationMs * 0.4),
    timeoutMs: 120_000,
    exclusive: targets.exclusive,
    log,
  });
  return changeOf(admin, running, {
    removed: () => undefined,
    invariant: "MOVE_COMPLETED",
    summary: (move) => ({ move }),
  });
}

/**
 * The ClusterChange of `running`: done once it settles; `finish` checks
 * every learner's co-located shards on one node (and none on the node the
 * change `removed`, when it succeeded) and records a failed change as `invariant`.
 */
function changeOf<Report extends { startedAt: number; endedAt: number; error?: string }>(
  admin: Database,
  running: Promise<Report>,
  how: {
    removed: (report: Report) => string | undefined;
    invariant: "GROWTH_COMPLETED" | "MOVE_COMPLETED";
    summary: (summary: ChangeSummary<Report>) => { growth: GrowthSummary } | { move: MoveSummary };
  },
): ClusterChange {
  const state = { done: false };
  const end = () => (state.done = true);
  void running.then(end, end);
  return {
    get done() {
      return state.done;
    },
    async finish(history, pairs, record) {
      const report = await running;
      const userIds = [...new Set(pairs.map((p) => p.userId))];
      record(await checkLearnersOnOneNode(admin.pool, userIds, report.error ? undefined : how.removed(report)));
      if (report.error)
        record([{ invariant: how.invariant, userId: -1, specialization: "*", detail: report.error, operations: [] }]);
      return how.summary(summarizeChange(history, report, userIds.length));
    },
  };
}
