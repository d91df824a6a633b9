import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setGuard } from "@coupler/core";
import { startBenchEnvironment, type BenchTools } from "./benchEnvironment.ts";
import { estimateSeconds, ownsApi, type BenchPlan, type PlannedRun } from "./plan.ts";
import { Progress } from "./progress.ts";
import type { BenchResults } from "./results.ts";
import { scheduledRuns } from "./rounds.ts";
import { runSchedule } from "./runSchedule.ts";
import { sourceInfo } from "./sourceInfo.ts";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));

/**
 * Runs the whole plan: sets the environment up (database, learners, API
 * processes), warms each path up, then makes every scheduled run (the
 * headline runs in `plan.rounds` rounds, round-robin) through `runSchedule`.
 * The Citus scale bench (`plan.scale`) sets up its own environments.
 */
export async function runBench(plan: BenchPlan, tools: BenchTools): Promise<BenchResults> {
  if (plan.scale) {
    const { runScaleBench } = await import("./scale/runScaleBench.ts");
    return runScaleBench(plan, plan.scale, tools);
  }
  const startedAt = new Date();
  const runs = scheduledRuns(plan);
  const targets = [
    ...new Set(runs.flatMap((r) => (r.target === "coupler" || r.target === "legacy" ? [r.target] : []))),
  ];
  // Each path's warm-up, and the warm-up of every run that starts an API process of its own, count as runs.
  const warmUps = targets.length + runs.filter((run) => ownsApi(plan, run)).length;
  const progress = new Progress(runs.length + warmUps, estimateSeconds(plan));
  await mkdir(join(tools.outDir, "k6"), { recursive: true });
  const source = await sourceInfo(REPO);
  const environment = await startBenchEnvironment(
    plan,
    tools,
    progress,
    runs.some((r) => r.target === "baseline"),
  );
  try {
    // Warm both paths up (JIT, pool connections, caches) so the first measured run is not the cold one.
    for (const target of targets) {
      tools.signal?.throwIfAborted();
      await environment.warmUp(target);
    }
    const results = await runSchedule(plan, runs, progress, () => environment, tools.signal);
    await setGuard(environment.database.pool, true, "bench").catch(() => {});
    return {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      elapsedSeconds: Math.round(progress.elapsedSeconds()),
      plan,
      machine: environment.machine,
      setup: environment.setup,
      source,
      runs: results,
    };
  } finally {
    await environment.close();
  }
}

export type { PlannedRun };
