import type { TopLevelSpec } from "vega-lite";
import type { BenchResults } from "../results.ts";
import { scaleRows } from "../scale/scaleRows.ts";
import { toSvg, type Chart } from "./charts.ts";

/** The chart's file name, in a results folder and under docs/benchmarks/. */
export const SCALE_CHART = "citus-scale.svg";

/**
 * Level-ups per second against the worker count, one line per route with
 * each point's range over the rounds, the plain server as a level line,
 * and linear scaling from direct routing's one worker as a dashed line.
 * Pure data in, a Vega-Lite spec out.
 */
export function scaleSpec(results: BenchResults): TopLevelSpec {
  const rows = scaleRows(results);
  const points = rows
    .filter((r) => r.key.route !== "server")
    .map((r) => ({
      workers: r.key.workers,
      series: `${r.key.route} routing`,
      levelUps: r.levelUps.median,
      min: r.levelUps.min,
      max: r.levelUps.max,
    }));
  const one = rows.find((r) => r.key.workers === 1 && r.key.route === "direct")?.levelUps.median;
  const ideal =
    one === undefined
      ? []
      : (results.plan.scale?.workers ?? []).map((w) => ({
          workers: w,
          series: "linear from 1 worker",
          levelUps: one * w,
        }));
  const plain = rows.find((r) => r.key.route === "server")?.levelUps.median;
  const workers = results.plan.scale?.workers ?? [];
  const x = {
    field: "workers",
    type: "quantitative" as const,
    scale: { domain: [0.5, Math.max(1, ...workers) + 0.5] },
    axis: { values: workers, format: "d" },
    title: "workers",
  };
  const color = {
    field: "series",
    type: "nominal" as const,
    title: null,
    legend: { labelLimit: 0 },
    scale: {
      domain: ["direct routing", "coordinator routing", "linear from 1 worker"],
      range: ["#1f77b4", "#ff7f0e", "#999999"],
    },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: {
      text: `Level-ups per second against workers, every node at ${results.scale?.nodeCores ?? "?"} core`,
      subtitle: `${results.plan.saturationVus} VUs, no think time; median of the undisturbed rounds (of all where every round was disturbed), bars the range${plain === undefined ? "" : `; gray line: one plain PostgreSQL (${plain.toFixed(0)}/s)`}`,
    },
    width: 560,
    height: 300,
    layer: [
      {
        data: { values: ideal },
        mark: { type: "line", strokeDash: [6, 4] },
        encoding: { x, y: { field: "levelUps", type: "quantitative", title: "level-ups per second" }, color },
      },
      {
        data: { values: points },
        mark: { type: "line", point: { filled: true, size: 70 } },
        encoding: { x, y: { field: "levelUps", type: "quantitative" }, color },
      },
      {
        data: { values: points },
        mark: { type: "rule" },
        encoding: { x, y: { field: "min", type: "quantitative" }, y2: { field: "max" }, color },
      },
      ...(plain === undefined
        ? []
        : [
            {
              data: { values: [{ levelUps: plain }] },
              mark: { type: "rule" as const, color: "#555555" },
              encoding: { y: { field: "levelUps", type: "quantitative" as const } },
            },
          ]),
    ],
  };
}

/** The scale run's chart as SVG; none when the run was skipped or made no scale run. */
export async function renderScaleCharts(results: BenchResults): Promise<Chart[]> {
  if (!results.scale || results.scale.skipped || scaleRows(results).length === 0) return [];
  return [
    {
      file: SCALE_CHART,
      title: "Citus scale-out: level-ups per second against workers",
      svg: await toSvg(scaleSpec(results)),
    },
  ];
}
