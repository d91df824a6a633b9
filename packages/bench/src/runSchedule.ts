import type { BenchEnvironment } from "./benchEnvironment.ts";
import { ownsApi, type BenchPlan, type PlannedRun } from "./plan.ts";
import type { Progress } from "./progress.ts";
import type { RunResult } from "./results.ts";
import { retryDisturbed } from "./retryDisturbed.ts";
import { runOne } from "./runOne.ts";

/**
 * Makes every scheduled run, in order, through `runOne` in the environment
 * `environmentFor` gives it. A run whose CPU outside it passed
 * `plan.maxOutsideShare` is made again, up to `plan.disturbedRetries` times;
 * the last attempt is kept, marked disturbed if it still was, with the
 * earlier attempts' outside shares beside it. Once `signal` is aborted no
 * further run or attempt starts: it throws the signal's reason, so the
 * caller's `finally` tears the environment down.
 */
export async function runSchedule(
  plan: BenchPlan,
  runs: readonly (PlannedRun & { round: number })[],
  progress: Progress,
  environmentFor: (run: PlannedRun) => BenchEnvironment,
  signal?: AbortSignal,
): Promise<RunResult[]> {
  const results: RunResult[] = [];
  const policy = { maxOutsideShare: plan.maxOutsideShare, retries: plan.disturbedRetries };
  for (const { round, ...run } of runs) {
    signal?.throwIfAborted();
    const environment = environmentFor(run);
    const result = await retryDisturbed(
      (attempt) => {
        signal?.throwIfAborted();
        return runOne(environment, run, { round, attempt });
      },
      policy,
      (share) => {
        progress.info(
          `    disturbed: ${(share * 100).toFixed(1)}% of the box was busy outside the run (over ${(plan.maxOutsideShare * 100).toFixed(1)}%); running it again`,
        );
        progress.addRun();
        if (ownsApi(plan, run)) progress.addRun(); // its API process is started and warmed up again
      },
    );
    results.push(result);
  }
  return results;
}
