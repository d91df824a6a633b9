import { describe, expect, it } from "vitest";
import type { Disturbance } from "./cpu/disturbance.ts";
import type { BenchResults, RunResult } from "./results.ts";
import { FULL_PLAN, hotSpotVariant, ownsApi, plannedRuns, type BenchPlan } from "./plan.ts";
import { median, medianView, scheduleRounds, scheduledRuns, summarizeRounds } from "./rounds.ts";

const disturbance = (outsideShare: number): Disturbance => ({
  wallSeconds: 30,
  cores: 2,
  machineMs: 0,
  measuredMs: 0,
  outsideMs: outsideShare * 60_000,
  stealMs: 0,
  outsideShare,
});

/** A level-up round at 1000 users with the given avg and P95 (ms) and throughput. */
function round(n: number, avg: number, p95: number, throughput: number, outside: number, disturbed = false): RunResult {
  return {
    id: "level-up-coupler-1000",
    scenario: "level-up",
    target: "coupler",
    vus: 1000,
    operation: "levelUp",
    round: n,
    disturbance: disturbance(outside),
    disturbed,
    k6: {
      latency: { count: 1000, avg, p50: avg / 2, p95, p99: p95 * 2, max: p95 * 3 },
      requests: 1000,
      throughput,
      failed: 0,
      errorRate: 0,
      thresholds: [],
      exitCode: 0,
    },
  };
}

describe("scheduleRounds", () => {
  it("makes round 1 of every run, then repeats the chosen runs round-robin rather than back to back", () => {
    const runs = [{ id: "a" }, { id: "b" }, { id: "variant" }, { id: "c" }];
    const order = scheduleRounds(runs, 3, (r) => r.id !== "variant").map((r) => `${r.id}${r.round}`);
    expect(order).toEqual(["a1", "b1", "variant1", "c1", "a2", "b2", "c2", "a3", "b3", "c3"]);
  });
});

describe("scheduledRuns", () => {
  it("interleaves the --before-api pair in every round, beside the hot spot it is compared with", () => {
    const plan: BenchPlan = {
      ...FULL_PLAN,
      scenarios: ["hot-spot"],
      hotSpot: { ...FULL_PLAN.hotSpot, variants: ["spread"] },
      beforeApi: "/tmp/base/main.js",
    };
    const ids = scheduledRuns(plan).map((run) => `${run.round}:${run.id}`);
    for (const round of [1, 2, 3]) {
      expect(ids).toContain(`${round}:hot-spot-coupler-200`);
      expect(ids).toContain(`${round}:hot-spot-coupler-200-before`);
      expect(ids).toContain(`${round}:hot-spot-coupler-200-before-spread`);
    }
    expect(ids.filter((id) => id.endsWith("hot-spot-legacy-200"))).toEqual(["1:hot-spot-legacy-200"]);
  });

  it("makes validate and level-up at the fixed rate in every round, and with --before-api against the before build and this build, each in a process of its own", () => {
    const plan: BenchPlan = {
      ...FULL_PLAN,
      scenarios: ["level-up-rate", "validate-rate"],
      beforeApi: "/tmp/base/main.js",
    };
    const ids = scheduledRuns(plan).map((run) => `${run.round}:${run.id}`);
    expect(ids.slice(0, 7)).toEqual([
      "1:level-up-rate-coupler-300",
      "1:level-up-rate-baseline-300",
      "1:level-up-rate-coupler-300-before",
      "1:level-up-rate-coupler-300-after",
      "1:validate-rate-coupler-300",
      "1:validate-rate-coupler-300-before",
      "1:validate-rate-coupler-300-after",
    ]);
    expect(ids).toHaveLength(21);
    // The twins swap places every other round, so the tables' growth falls on both builds alike.
    const twinOrder = ids.filter((id) => id.includes("level-up-rate") && /-(before|after)$/.test(id));
    expect(twinOrder).toEqual([
      "1:level-up-rate-coupler-300-before",
      "1:level-up-rate-coupler-300-after",
      "2:level-up-rate-coupler-300-after",
      "2:level-up-rate-coupler-300-before",
      "3:level-up-rate-coupler-300-before",
      "3:level-up-rate-coupler-300-after",
    ]);
    const twins = plannedRuns(plan).filter((run) => run.variant === "before" || run.variant === "after");
    expect(twins).toHaveLength(4);
    expect(twins.every((run) => ownsApi(plan, run))).toBe(true);
    expect(twins.map((run) => hotSpotVariant(plan, run.variant ?? "before"))).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "before", before: true, fresh: false, apiEnv: {} }),
        expect.objectContaining({ name: "after", before: false, fresh: true, apiEnv: {} }),
      ]),
    );
    expect(plannedRuns({ ...plan, beforeApi: undefined }).map((run) => run.id)).toEqual([
      "level-up-rate-coupler-300",
      "level-up-rate-baseline-300",
      "validate-rate-coupler-300",
    ]);
    expect(FULL_PLAN.scenarios).toContain("validate-rate");
  });
});

describe("median", () => {
  it("takes the middle value, or the mean of the two middle ones", () => {
    expect(median([9, 1, 5])).toBe(5);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow("median of no values");
  });
});

describe("summarizeRounds and medianView", () => {
  const results = (runs: RunResult[]) => ({ runs }) as unknown as BenchResults;

  it("gives the median and range of the undisturbed rounds, leaving a disturbed round out", () => {
    const runs = [
      round(1, 6, 20, 990, 0.01),
      round(2, 60, 380, 700, 0.4, true),
      round(3, 5, 18, 995, 0.02),
      round(4, 7, 25, 985, 0.03),
    ];
    const [summary] = summarizeRounds(runs);
    expect(summary).toMatchObject({ id: "level-up-coupler-1000", rounds: 4, undisturbed: 3, allDisturbed: false });
    expect(summary?.outsideShares).toEqual([0.01, 0.4, 0.02, 0.03]);
    expect(summary?.figures.p95).toEqual({ median: 20, min: 18, max: 25 });
    expect(summary?.figures.throughput).toEqual({ median: 990, min: 985, max: 995 });
    const [view] = medianView(results(runs)).runs;
    // The seed's 1000-user target (avg ≤ 50, P95 ≤ 300) is judged on these medians: met, despite round 2.
    expect(view?.k6?.latency.avg).toBe(6);
    expect(view?.k6?.latency.p95).toBe(20);
    expect(view?.k6?.throughput).toBe(990);
    expect(view?.disturbed).toBe(false);
  });

  it("falls back to every round, marked disturbed, when no round was undisturbed", () => {
    const runs = [
      round(1, 50, 300, 800, 0.3, true),
      round(2, 70, 400, 700, 0.5, true),
      round(3, 60, 350, 750, 0.4, true),
    ];
    const [summary] = summarizeRounds(runs);
    expect(summary?.allDisturbed).toBe(true);
    expect(summary?.figures.avg).toEqual({ median: 60, min: 50, max: 70 });
    const [view] = medianView(results(runs)).runs;
    expect(view?.disturbed).toBe(true);
    expect(view?.k6?.latency.p95).toBe(350);
  });

  it("keeps one-round runs and runs without figures as they were, one per id", () => {
    const once = round(1, 3, 9, 10, 0);
    const skipped = { ...round(1, 0, 0, 0, 0), id: "ceiling-pgbench-50", k6: undefined, skipped: "pgbench not found" };
    const laterRoundFailed = { ...round(2, 0, 0, 0, 0), k6: undefined, skipped: "k6 exited with 1" };
    const view = medianView(results([once, skipped, laterRoundFailed])).runs;
    expect(view).toEqual([once, skipped]);
  });
});
