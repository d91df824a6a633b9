import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { Disturbance } from "../cpu/disturbance.ts";
import type { BenchResults, RunResult } from "../results.ts";
import { renderReport } from "./renderReport.ts";

// summary.json of a real `pnpm bench --quick`, from before rounds: every run once, no disturbance measured.
const fixture = JSON.parse(
  readFileSync(new URL("../../test/fixtures/bench-results-quick.json", import.meta.url), "utf8"),
) as BenchResults;

const outside = (outsideShare: number): Disturbance => ({
  wallSeconds: 4,
  cores: 2,
  machineMs: 0,
  measuredMs: 0,
  outsideMs: outsideShare * 8_000,
  stealMs: 0,
  outsideShare,
});

/** The fixture's level-up at 10 users in three rounds: avg 4, 400 (disturbed) and 6 ms. */
function threeRounds(): BenchResults {
  const run = fixture.runs.find((r) => r.id === "level-up-coupler-10");
  if (!run?.k6) throw new Error("the fixture has a coupler level-up at 10 users");
  const k6 = run.k6;
  const round = (n: number, avg: number, share: number, disturbed: boolean): RunResult => ({
    ...run,
    round: n,
    disturbance: outside(share),
    disturbed,
    k6: { ...k6, latency: { ...k6.latency, avg, p95: avg * 2 } },
  });
  const rounds = [round(1, 4, 0.01, false), round(2, 400, 0.3, true), round(3, 6, 0.02, false)];
  const runs = fixture.runs.flatMap((r) => (r.id === run.id ? rounds : [r]));
  return {
    ...fixture,
    plan: { ...fixture.plan, rounds: 3, maxOutsideShare: 0.05, disturbedRetries: 2 },
    setup: { ...fixture.setup, rounds: 3, maxOutsideShare: 0.05, disturbedRetries: 2 },
    runs,
  };
}

describe("the report of a run in rounds", () => {
  const report = renderReport(threeRounds(), []);

  it("shows each round's outside CPU, the disturbed one marked, and the median and range of the undisturbed rounds", () => {
    expect(report).toContain("## Rounds and disturbance");
    expect(report).toContain(
      "| level-up-coupler-10 | 1.0%, 30.0%*, 2.0% | 2 of 3 | 5.00 ms (4.00 ms–6.00 ms) | 10.00 ms (8.00 ms–12.00 ms) |",
    );
    expect(report).toContain("A round over 5.0% is disturbed");
  });

  it("puts the median of the undisturbed rounds in the seed's tables, not the disturbed round or the first", () => {
    expect(report).toMatch(/\| Level Up \| 69\.92 ms \| 5\.00 ms \| -93% \|/);
    expect(report).toMatch(/\| 10 \| 5\.00 ms \| 10\.00 ms \|/);
    expect(report).not.toContain("400.00 ms");
  });

  it("judges no target on a run whose every round was disturbed", () => {
    const all = threeRounds();
    const disturbedAll = renderReport(
      { ...all, runs: all.runs.map((r) => (r.id === "level-up-coupler-10" ? { ...r, disturbed: true } : r)) },
      [],
    );
    expect(disturbedAll).toContain("0 of 3 (all disturbed)");
    expect(disturbedAll).toMatch(
      /coupler latency overhead over the legacy path ≤ 15% \(level-up avg at 10 users\) \| \+53% \| not measured \| not measured \|/,
    );
  });

  it("leaves a report of results from before rounds as it was, without the section", () => {
    expect(renderReport(fixture, [])).not.toContain("## Rounds and disturbance");
  });
});
