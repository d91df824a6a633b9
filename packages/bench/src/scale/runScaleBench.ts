import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LOCK_TIMEOUT_MS, type BenchTools } from "../benchEnvironment.ts";
import { k6Version } from "../k6.ts";
import { machineInfo } from "../machineInfo.ts";
import { estimateSeconds, type BenchPlan } from "../plan.ts";
import { Progress } from "../progress.ts";
import type { BenchResults } from "../results.ts";
import { scheduledRuns } from "../rounds.ts";
import { runSchedule } from "../runSchedule.ts";
import { sourceInfo } from "../sourceInfo.ts";
import type { ScalePlan } from "./scalePlan.ts";
import { scaleUnsupported, startScaleSetups } from "./scaleSetups.ts";

const REPO = fileURLToPath(new URL("../../../..", import.meta.url));

/**
 * The Citus scale bench (`pnpm bench --citus`): starts every setup (see
 * `startScaleSetups`), warms each up, then makes the plan's runs in
 * `plan.rounds` rounds, round-robin over the setups and routes, through the
 * same runner as every other bench run. Where Citus or writable cgroups are
 * missing it says why on stderr and returns results without runs, the
 * reason in `scale.skipped`.
 */
export async function runScaleBench(plan: BenchPlan, scale: ScalePlan, tools: BenchTools): Promise<BenchResults> {
  const startedAt = new Date();
  const source = await sourceInfo(REPO);
  const pools = { apiProcesses: plan.apiProcesses, coordinator: plan.poolSize, perWorker: plan.poolSize };
  const skipped = await scaleUnsupported();
  if (skipped) {
    process.stderr.write(`pnpm bench --citus: the scale bench is skipped: ${skipped}\n`);
    return {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      elapsedSeconds: 0,
      plan,
      machine: await machineInfo(undefined, await k6Version(tools.k6, tools.env), tools.pgbench),
      setup: {
        apiProcesses: plan.apiProcesses,
        poolSize: plan.poolSize,
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        fsync: true,
        database: "citus",
        rounds: plan.rounds,
      },
      source,
      scale: { nodeCores: scale.nodeCores, skipped, setups: [], pools },
      runs: [],
    };
  }
  const runs = scheduledRuns(plan);
  // One warm-up per setup and route: the plain server, and direct and coordinator per worker count.
  const progress = new Progress(runs.length + 1 + 2 * scale.workers.length, estimateSeconds(plan));
  await mkdir(join(tools.outDir, "k6"), { recursive: true });
  const setups = await startScaleSetups(plan, scale, tools, progress);
  try {
    for (const environment of setups.environments) {
      tools.signal?.throwIfAborted();
      await environment.warmUp("coupler");
    }
    const results = await runSchedule(
      plan,
      runs,
      progress,
      (run) => {
        if (!run.scale) throw new Error(`run ${run.id} is not a scale run`);
        return setups.environmentFor(run.scale);
      },
      tools.signal,
    );
    const [first] = setups.environments;
    if (!first) throw new Error("the scale bench started no setup");
    return {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      elapsedSeconds: Math.round(progress.elapsedSeconds()),
      plan,
      machine: first.machine,
      setup: { ...first.setup, database: "citus", postmasterPid: null },
      source,
      scale: setups.info,
      runs: results,
    };
  } finally {
    await setups.close();
  }
}
