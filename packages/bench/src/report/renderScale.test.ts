import { describe, expect, it } from "vitest";
import type { BenchResults } from "../results.ts";
import { scaleResultsFixture, type FixtureRound } from "../scale/scaleResultsFixture.ts";
import { renderScaleBlock, renderScaleReport, renderScaleTables, scaleCommand } from "./renderScale.ts";
import { renderScaleCharts } from "./scaleChart.ts";

const round = (workers: number, route: FixtureRound["key"]["route"], throughput: number, nodeMs: number[]) => ({
  key: { workers, route },
  round: 1,
  throughput,
  nodeMs,
});

const results = scaleResultsFixture([
  round(0, "server", 300, [0.8]),
  round(1, "direct", 75, [0.02, 3.3]),
  round(1, "coordinator", 62, [1.2, 3.8]),
  round(2, "direct", 150, [0.02, 1.6, 1.7]),
  round(2, "coordinator", 100, [2.0, 1.5, 1.5]),
  round(4, "direct", 290, [0.04, 0.8, 0.8, 0.9, 0.8]),
  round(4, "coordinator", 110, [2.1, 1, 1, 1, 1]),
]);

describe("renderScaleTables", () => {
  it("gives a row per setup and route: level-ups/s against one worker, the coordinator's and each worker's CPU per call, the sum against one plain server", () => {
    const text = renderScaleTables(results);
    expect(text).toContain(
      "| 2 workers, direct | 150/s | 2.00× | 427 ms | 600 ms | 0 | 0.020 ms | 3.300 ms (1.600 + 1.700) | 3.320 ms | 4.15× | 0.500 ms | 96.0%, 102.0% | 1.0% | 1 of 1 |",
    );
    expect(text).toContain("| plain PostgreSQL | 300/s | — |");
    expect(text).toContain("| 1 worker, coordinator | 62/s | — |");
    expect(text).toContain(
      "| direct routing: 2 workers ≥ 1.8× the level-ups/s of 1 worker | 2.00× (150/s vs 75/s) | yes |",
    );
    expect(text).toContain(
      "| direct routing: 4 workers ≥ 3.2× the level-ups/s of 1 worker | 3.87× (290/s vs 75/s) | yes |",
    );
  });

  it("names the commit it measured and the command that measures it again", () => {
    const text = renderScaleTables(results);
    expect(text).toContain("from commit 1a2b3c4d5e6f with");
    expect(scaleCommand(results)).toBe(
      "PATH=/usr/lib/postgresql/15/bin:$PATH K6_BIN=/opt/k6/k6 pnpm bench --citus --citus-workers 1,2,4 --node-cores 0.25 --saturation-vus 64 --learners 5000 --rounds 3 --duration 30",
    );
    // A disturbance policy other than the default is part of the command (regression: a run made with
    // --max-outside-cpu 8 was published as if made with the default 5%).
    const strict = { ...results, plan: { ...results.plan, maxOutsideShare: 0.08, disturbedRetries: 1 } };
    expect(scaleCommand(strict)).toMatch(/ --duration 30 --max-outside-cpu 8 --disturbed-retries 1$/);
  });

  it("states the connections each API process opens: its coordinator pool, plus a pool per worker under direct routing", () => {
    expect(renderScaleTables(results)).toContain(
      "50 + W × 50 per API process, 100 with 1 worker, 150 with 2 workers, 250 with 4 workers",
    );
  });

  it("says why when the scale bench was skipped, and refuses results that are not a scale run", () => {
    const skipped: BenchResults = {
      ...results,
      runs: [],
      scale: {
        nodeCores: 0.25,
        skipped: "CPU quotas cannot be set: no writable cgroup",
        setups: [],
        pools: results.scale?.pools ?? { apiProcesses: 1, coordinator: 50, perWorker: 50 },
      },
    };
    expect(renderScaleBlock(skipped, "chart.svg")).toBe(
      "The scale bench was skipped: CPU quotas cannot be set: no writable cgroup.",
    );
    const { scale: _scale, ...notScale } = results;
    expect(() => renderScaleTables(notScale)).toThrow(/not a pnpm bench --citus scale run/);
  });
});

describe("the scale report", () => {
  it("draws level-ups against workers per route as SVG, and report.md links it above the table", async () => {
    const charts = await renderScaleCharts(results);
    expect(charts.map((c) => c.file)).toEqual(["citus-scale.svg"]);
    expect(charts[0]?.svg.startsWith("<svg")).toBe(true);
    expect(charts[0]?.svg).toContain("direct routing");
    expect(charts[0]?.svg).toContain("linear from 1 worker");
    const report = renderScaleReport(results, charts);
    expect(report).toContain("![Level-ups per second against workers](citus-scale.svg)");
    expect(report.indexOf("citus-scale.svg")).toBeLessThan(report.indexOf("| setup |"));
    expect(report).toContain("## Rounds and disturbance");
    expect(await renderScaleCharts({ ...results, runs: [] })).toEqual([]);
  });
});
