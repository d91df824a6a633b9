import { describe, expect, it } from "vitest";
import { FULL_PLAN, QUICK_PLAN, estimateSeconds, isHeadline, plannedRuns } from "../plan.ts";
import { scheduledRuns } from "../rounds.ts";
import { DEFAULT_SCALE_PLAN, scaleRuns, setupName } from "./scalePlan.ts";

const plan = { ...FULL_PLAN, citus: true, scale: DEFAULT_SCALE_PLAN, saturationVus: 64, learners: 5_000 };

describe("the scale bench's plan", () => {
  it("runs the plain server, then direct and coordinator routing side by side for each worker count, all saturation level-ups", () => {
    const runs = scaleRuns({ workers: [1, 2, 4], nodeCores: 0.25 }, 64);
    expect(runs.map((r) => r.id)).toEqual([
      "scale-plain-64",
      "scale-w1-direct-64",
      "scale-w1-coordinator-64",
      "scale-w2-direct-64",
      "scale-w2-coordinator-64",
      "scale-w4-direct-64",
      "scale-w4-coordinator-64",
    ]);
    expect(runs.every((r) => r.scenario === "saturation" && r.target === "coupler" && r.vus === 64)).toBe(true);
    expect(runs[0]?.scale).toEqual({ workers: 0, route: "server" });
    expect(setupName({ workers: 2, route: "coordinator" })).toBe("w2-coordinator");
  });

  it("is the whole plan of a scale run: no other scenario runs beside it", () => {
    expect(plannedRuns(plan).map((r) => r.id)).toEqual(scaleRuns(DEFAULT_SCALE_PLAN, 64).map((r) => r.id));
    expect(plannedRuns(FULL_PLAN).some((r) => r.scale)).toBe(false);
  });

  it("makes every scale run in each round, interleaved: a drift of the box falls on every setup and route alike", () => {
    const schedule = scheduledRuns(plan);
    expect(plannedRuns(plan).every((r) => isHeadline(plan, r))).toBe(true);
    expect(schedule).toHaveLength(21);
    expect(schedule.slice(0, 8).map((r) => `${r.id}#${r.round}`)).toEqual([
      "scale-plain-64#1",
      "scale-w1-direct-64#1",
      "scale-w1-coordinator-64#1",
      "scale-w2-direct-64#1",
      "scale-w2-coordinator-64#1",
      "scale-w4-direct-64#1",
      "scale-w4-coordinator-64#1",
      "scale-plain-64#2",
    ]);
  });

  it("estimates a full scale run at under half an hour on this box, set-up included, and a quick one at a few minutes", () => {
    expect(estimateSeconds(plan)).toBeLessThanOrEqual(30 * 60);
    expect(estimateSeconds({ ...QUICK_PLAN, citus: true, scale: DEFAULT_SCALE_PLAN })).toBeLessThanOrEqual(5 * 60);
  });
});
