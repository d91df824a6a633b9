import { describe, expect, it } from "vitest";
import type { Disturbance } from "./cpu/disturbance.ts";
import type { RunResult } from "./results.ts";
import { retryDisturbed } from "./retryDisturbed.ts";

const policy = { maxOutsideShare: 0.05, retries: 2 };

/** Attempts whose outside shares are `shares` in turn (null: not measured), counting the calls. */
function attempts(shares: (number | null)[], skipped?: string) {
  const calls: number[] = [];
  const attempt = async (n: number): Promise<RunResult> => {
    calls.push(n);
    const share = shares[n - 1];
    const disturbance: Disturbance | null =
      share === null || share === undefined
        ? null
        : {
            wallSeconds: 1,
            cores: 2,
            machineMs: 0,
            measuredMs: 0,
            outsideMs: share * 2000,
            stealMs: 0,
            outsideShare: share,
          };
    return {
      id: "r",
      scenario: "level-up",
      target: "coupler",
      vus: 10,
      operation: "levelUp",
      disturbance,
      ...(skipped ? { skipped } : {}),
    };
  };
  return { calls, attempt };
}

describe("retryDisturbed", () => {
  it("makes a disturbed run again until an attempt is quiet, keeping the thrown-away shares", async () => {
    const { calls, attempt } = attempts([0.3, 0.2, 0.01]);
    const heard: number[] = [];
    const result = await retryDisturbed(attempt, policy, (s) => heard.push(s));
    expect(calls).toEqual([1, 2, 3]);
    expect(heard).toEqual([0.3, 0.2]);
    expect(result).toMatchObject({ disturbed: false, retriedOutsideShares: [0.3, 0.2] });
    expect(result.disturbance?.outsideShare).toBe(0.01);
  });

  it("stops after the allowed retries and keeps the last attempt, marked disturbed", async () => {
    const { calls, attempt } = attempts([0.3, 0.4, 0.5, 0.01]);
    const result = await retryDisturbed(attempt, policy);
    expect(calls).toEqual([1, 2, 3]);
    expect(result).toMatchObject({ disturbed: true, retriedOutsideShares: [0.3, 0.4] });
  });

  it("runs a quiet run, an unmeasured one and a failed one once, calling none of them disturbed", async () => {
    for (const [shares, skipped] of [[[0.01]], [[null]], [[0.9], "k6 exited with 1"]] as const) {
      const { calls, attempt } = attempts([...shares], skipped);
      const result = await retryDisturbed(attempt, policy);
      expect(calls).toEqual([1]);
      expect(result.retriedOutsideShares).toBeUndefined();
      expect(result.disturbed ?? false).toBe(false);
      if (shares[0] === null) expect(result.disturbed).toBeUndefined();
    }
  });
});
