import { describe, expect, it } from "vitest";
import { BenchInterrupted } from "./BenchInterrupted.ts";
import { FULL_PLAN, plannedRuns } from "./plan.ts";
import { Progress } from "./progress.ts";
import { runSchedule } from "./runSchedule.ts";

describe("runSchedule", () => {
  it("starts no run once the bench is interrupted, and throws the interruption so the caller tears down", async () => {
    const runs = plannedRuns({ ...FULL_PLAN, scenarios: ["level-up"], levels: [10] }).map((r) => ({ ...r, round: 1 }));
    expect(runs.length).toBeGreaterThan(0);
    const stop = new AbortController();
    stop.abort(new BenchInterrupted("SIGINT"));
    const asked: string[] = [];
    const schedule = runSchedule(
      FULL_PLAN,
      runs,
      new Progress(runs.length, 1),
      (run) => {
        asked.push(run.id);
        throw new Error("no environment may be asked for once interrupted");
      },
      stop.signal,
    );
    await expect(schedule).rejects.toBeInstanceOf(BenchInterrupted);
    await expect(schedule).rejects.toThrow("interrupted by SIGINT");
    expect(asked).toEqual([]);
  });
});
