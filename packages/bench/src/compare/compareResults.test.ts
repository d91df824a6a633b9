import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { BenchResults, RunResult } from "../results.ts";
import { compareFigures, compareResults } from "./compareResults.ts";

const fixture = JSON.parse(
  readFileSync(new URL("../../test/fixtures/bench-results-quick.json", import.meta.url), "utf8"),
) as BenchResults;
const dir = mkdtempSync(join(tmpdir(), "bench-compare-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = (id: string): RunResult => {
  const run = fixture.runs.find((r) => r.id === id);
  if (!run?.k6) throw new Error(`the fixture has no k6 run ${id}`);
  return run;
};

/** Rounds of one run with the given P95s (ms) and throughputs, every other figure as the fixture's. */
function rounds(id: string, figures: [p95: number, throughput: number][]): RunResult[] {
  const run = base(id);
  const k6 = run.k6 as NonNullable<RunResult["k6"]>;
  return figures.map(([p95, throughput], i) => ({
    ...run,
    round: i + 1,
    disturbed: false,
    k6: { ...k6, throughput, latency: { ...k6.latency, p95 } },
  }));
}

/** A results folder as `pnpm bench` writes it (summary.json), made by this test. */
function folder(name: string, runs: RunResult[], commit: string): string {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  const results: BenchResults = {
    ...fixture,
    plan: { ...fixture.plan, rounds: 3 },
    source: { commit, dirty: false },
    runs,
  };
  writeFileSync(join(path, "summary.json"), JSON.stringify(results));
  return path;
}

describe("pnpm bench --compare", () => {
  // A: level-up at 50 users, P95 20–24 ms; saturation 900–960/s. B: level-up P95 40–44 ms (twice as slow, far
  // outside both ranges); saturation 930–1000/s (overlapping A's range: noise).
  const a = folder(
    "a",
    [
      ...rounds("level-up-coupler-50", [
        [20, 50],
        [22, 49],
        [24, 51],
      ]),
      ...rounds("saturation-coupler-10", [
        [30, 900],
        [31, 930],
        [29, 960],
      ]),
    ],
    "aaaaaaaaaaaaaaaa",
  );
  const b = folder(
    "b",
    [
      ...rounds("level-up-coupler-50", [
        [40, 50],
        [44, 48],
        [42, 50],
      ]),
      ...rounds("saturation-coupler-10", [
        [30, 1000],
        [30, 950],
        [31, 930],
      ]),
      // A disturbed round with a wild figure is left out of the median and the range.
      { ...rounds("saturation-coupler-10", [[300, 100]])[0], round: 4, disturbed: true } as RunResult,
    ],
    "bbbbbbbbbbbbbbbb",
  );

  it("flags a P95 that moved further than both sides' rounds spread, and leaves an overlapping throughput alone", async () => {
    const [resultsA, resultsB] = [a, b].map(
      (p) => JSON.parse(readFileSync(join(p, "summary.json"), "utf8")) as BenchResults,
    ) as [BenchResults, BenchResults];
    const changes = compareFigures(resultsA, resultsB);
    const find = (id: string, figure: string) => changes.find((c) => c.id === id && c.figure === figure);
    expect(find("level-up-coupler-50", "p95")).toMatchObject({
      a: { median: 22, min: 20, max: 24, rounds: 3 },
      b: { median: 42, min: 40, max: 44, rounds: 3 },
      verdict: "worse",
    });
    expect(find("level-up-coupler-50", "p95")?.change).toBeCloseTo(42 / 22 - 1, 9);
    expect(find("saturation-coupler-10", "throughput")).toMatchObject({
      a: { median: 930, min: 900, max: 960 },
      b: { median: 950, min: 930, max: 1000, rounds: 3 },
      verdict: "within noise",
    });
  });

  it("prints both runs' commits and the figures side by side, the regression marked", async () => {
    const text = await compareResults(a, b);
    expect(text).toContain("commit aaaaaaaaaaaa");
    expect(text).toContain("commit bbbbbbbbbbbb");
    expect(text).toMatch(
      /\| level-up-coupler-50 \| P95 \| 22\.00 ms \[20\.00 ms–24\.00 ms\] \(3\) \| 42\.00 ms \[40\.00 ms–44\.00 ms\] \(3\) \| \+90\.9% \| \*\*worse\*\* \|/,
    );
    expect(text).toMatch(/\| saturation-coupler-10 \| throughput \| 930\/s .* \| \+2\.2% \| {2}\|/);
  });

  it("with one round a side measures no noise, and calls a change over 10% possible only", () => {
    const one = (p95: number) => ({ ...fixture, runs: rounds("level-up-coupler-50", [[p95, 50]]) });
    const [change] = compareFigures(one(20), one(30)).filter((c) => c.figure === "p95");
    expect(change?.verdict).toBe("possibly worse");
    expect(compareFigures(one(20), one(21)).find((c) => c.figure === "p95")?.verdict).toBe("within noise");
  });

  it("says which folder it cannot read", async () => {
    await expect(compareResults(join(dir, "missing"), b)).rejects.toThrow(/cannot read .*missing/);
  });
});
