import { isDisturbed, type DisturbancePolicy } from "./cpu/disturbance.ts";
import type { RunResult } from "./results.ts";

/**
 * Makes a run (`attempt(n)`, n from 1) until one attempt is undisturbed or
 * `policy.retries` more attempts were made; returns the last attempt, with
 * `disturbed` set where its disturbance was measured and the earlier
 * attempts' outside shares in `retriedOutsideShares`. A run without figures
 * (skipped) is not made again: its failure is not the box's. `onRetry` hears
 * each thrown-away attempt's outside share.
 */
export async function retryDisturbed(
  attempt: (n: number) => Promise<RunResult>,
  policy: DisturbancePolicy,
  onRetry: (outsideShare: number) => void = () => {},
): Promise<RunResult> {
  const retried: number[] = [];
  for (let n = 1; ; n++) {
    const result = await attempt(n);
    const disturbed = !result.skipped && isDisturbed(result.disturbance ?? undefined, policy);
    if (disturbed && n <= policy.retries) {
      const share = result.disturbance?.outsideShare ?? 0;
      retried.push(share);
      onRetry(share);
      continue;
    }
    return {
      ...result,
      ...(result.disturbance ? { disturbed } : {}),
      ...(retried.length > 0 ? { retriedOutsideShares: retried } : {}),
    };
  }
}
