import { View, parse } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { BenchResults } from "../results.ts";

export interface Chart {
  file: string;
  title: string;
  svg: string;
}

const WIDTH = 560;
const HEIGHT = 300;

/** The report's charts, drawn by Vega-Lite and rendered to SVG headless (no browser, no canvas). */
export async function renderCharts(results: BenchResults): Promise<Chart[]> {
  const specs: { file: string; title: string; spec: TopLevelSpec }[] = [
    { file: "latency-vs-users.svg", title: "Level-up latency against concurrent users", spec: latencySpec(results) },
    { file: "throughput-vs-ceiling.svg", title: "Saturation throughput against the raw-pg ceiling", spec: throughputSpec(results) },
    { file: "lock-wait.svg", title: "Row-lock wait of the coupler's level-up", spec: lockWaitSpec(results) },
  ];
  const charts: Chart[] = [];
  for (const { file, title, spec } of specs) charts.push({ file, title, svg: await toSvg(spec) });
  return charts;
}

export async function toSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function latencySpec(results: BenchResults): TopLevelSpec {
  const values = results.runs.flatMap((r) =>
    r.scenario === "level-up" && r.k6
      ? [
          { users: r.vus, path: r.target, stat: "avg", ms: r.k6.latency.avg },
          { users: r.vus, path: r.target, stat: "p95", ms: r.k6.latency.p95 },
          { users: r.vus, path: r.target, stat: "p99", ms: r.k6.latency.p99 },
        ]
      : [],
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Level-up latency (steady phase) vs concurrent users",
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "users", type: "quantitative", scale: { type: "log" }, title: "concurrent users (VUs)" },
      // Log scale: a few ms at low load and seconds past saturation must both stay readable.
      y: { field: "ms", type: "quantitative", title: "latency (ms, log scale)", scale: { type: "log" } },
      color: { field: "path", type: "nominal", title: "path" },
      strokeDash: { field: "stat", type: "nominal", title: "statistic" },
    },
  };
}

function throughputSpec(results: BenchResults): TopLevelSpec {
  const values = results.runs.flatMap((r) => {
    if (r.scenario === "saturation" && r.k6) return [{ series: `${r.target} via HTTP`, throughput: r.k6.throughput }];
    if (r.scenario === "ceiling" && r.ceiling) return [{ series: r.target === "raw-pg" ? "raw pg (ceiling)" : "pgbench (ceiling)", throughput: r.ceiling.throughput }];
    return [];
  });
  const concurrency = results.plan.saturationVus;
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: `Level-up throughput at ${concurrency} concurrent clients, no think time`,
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    mark: "bar",
    encoding: {
      x: { field: "series", type: "nominal", sort: null, title: null, axis: { labelAngle: 0 } },
      y: { field: "throughput", type: "quantitative", title: "level-ups per second" },
      color: { field: "series", type: "nominal", legend: null },
    },
  };
}

function lockWaitSpec(results: BenchResults): TopLevelSpec {
  const values = results.runs.flatMap((r) =>
    r.lock && (r.scenario === "level-up" || r.scenario === "hot-spot")
      ? [
          { users: r.vus, run: r.scenario, stat: "avg wait", ms: r.lock.lockWaitAvgMs },
          { users: r.vus, run: r.scenario, stat: "p95 wait (bucket bound)", ms: r.lock.lockWaitP95Ms },
        ]
      : [],
  );
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: "Row-lock wait per level-up (from /metrics)",
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    mark: { type: "point", filled: true, size: 80 },
    encoding: {
      x: { field: "users", type: "quantitative", scale: { type: "log" }, title: "concurrent users (VUs)" },
      y: { field: "ms", type: "quantitative", title: "lock wait (ms)" },
      color: { field: "stat", type: "nominal", title: "statistic" },
      shape: { field: "run", type: "nominal", title: "scenario" },
    },
  };
}
