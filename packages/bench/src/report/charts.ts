import { View, parse } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { BenchResults } from "../results.ts";
import { medianView } from "../rounds.ts";

export interface Chart {
  file: string;
  title: string;
  svg: string;
}

const WIDTH = 560;
const HEIGHT = 300;
const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** avg, p95 and p99 told apart by shape and dash as well as by name, in one legend. */
const STAT_SHAPES = { domain: ["avg", "p95", "p99"], range: ["circle", "square", "triangle-up"] };
const STAT_DASHES = {
  domain: ["avg", "p95", "p99"],
  range: [
    [1, 0],
    [6, 3],
    [2, 2],
  ],
};

/**
 * Latency spans from a few ms to seconds only past saturation: a log axis
 * then, a linear one fitted to the data otherwise (a log axis over 30–2000 ms
 * squeezes the differences that matter into its top half).
 */
export const LOG_SCALE_SPREAD = 100;

export function latencyScale(
  ms: number[],
): { type: "log"; domain: [number, number]; nice: false } | { type: "linear"; nice: true } {
  const positive = ms.filter((v) => v > 0);
  const [low, high] = positive.length === 0 ? [1, 1] : [Math.min(...positive), Math.max(...positive)];
  // Not `nice`: that would round 16 s up to 100 s; a little margin keeps the extreme points off the frame.
  return high / low > LOG_SCALE_SPREAD
    ? { type: "log", domain: [low / 1.25, high * 1.25], nice: false }
    : { type: "linear", nice: true };
}

/** An x axis of the measured user levels only, log-spaced (10 to 1000 users). */
function usersAxis(levels: number[]) {
  const values = [...new Set(levels)].sort((a, b) => a - b);
  const domain = [values[0] ?? 1, values.at(-1) ?? 1];
  return {
    field: "users",
    type: "quantitative" as const,
    scale: { type: "log" as const, domain, nice: false, padding: 24 },
    axis: { values, format: "d", grid: false },
    title: "concurrent users (VUs)",
  };
}

/** The report's charts, drawn by Vega-Lite and rendered to SVG headless (no browser, no canvas). */
export async function renderCharts(measured: BenchResults): Promise<Chart[]> {
  // The median of each run's undisturbed rounds, as the report's tables.
  const results = medianView(measured);
  const specs: { file: string; title: string; spec: TopLevelSpec }[] = [
    { file: "latency-vs-users.svg", title: "Level-up latency against concurrent users", spec: latencySpec(results) },
    {
      file: "throughput-vs-ceiling.svg",
      title: "Saturation throughput against the raw-pg ceiling",
      spec: throughputSpec(results),
    },
    { file: "lock-wait.svg", title: "Row-lock wait of the coupler's level-up", spec: lockWaitSpec(results) },
    { file: "hot-spot.svg", title: "Hot spot: many users on a few learners", spec: hotSpotSpec(results) },
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
  const scale = latencyScale(values.map((v) => v.ms));
  return {
    $schema: SCHEMA,
    title: "Level-up latency (steady phase) vs concurrent users",
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    mark: { type: "line", point: { filled: true, size: 70 } },
    encoding: {
      x: usersAxis(values.map((v) => v.users)),
      y: {
        field: "ms",
        type: "quantitative",
        title: `latency (ms${scale.type === "log" ? ", log scale" : ""})`,
        scale,
      },
      color: { field: "path", type: "nominal", title: "path" },
      shape: { field: "stat", type: "nominal", title: "statistic", scale: STAT_SHAPES },
      strokeDash: { field: "stat", type: "nominal", title: "statistic", scale: STAT_DASHES },
      detail: { field: "path" },
    },
  };
}

function throughputSpec(results: BenchResults): TopLevelSpec {
  const values = results.runs.flatMap((r) => {
    if (r.scenario === "saturation" && r.k6) return [{ series: `${r.target} via HTTP`, throughput: r.k6.throughput }];
    if (r.scenario === "ceiling" && r.ceiling)
      return [
        { series: r.target === "raw-pg" ? "raw pg (ceiling)" : "pgbench (ceiling)", throughput: r.ceiling.throughput },
      ];
    return [];
  });
  const concurrency = results.plan.saturationVus;
  return {
    $schema: SCHEMA,
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
  // The user-model runs only: the hot spot's waits are of another order and have a chart of their own.
  const values = results.runs.flatMap((r) =>
    r.lock && r.scenario === "level-up"
      ? [
          { users: r.vus, stat: "avg", ms: r.lock.lockWaitAvgMs },
          { users: r.vus, stat: "p95 (bucket bound)", ms: r.lock.lockWaitP95Ms },
        ]
      : [],
  );
  return {
    $schema: SCHEMA,
    title: "Row-lock wait per level-up (from /metrics)",
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    mark: { type: "line", point: { filled: true, size: 70 } },
    encoding: {
      x: usersAxis(values.map((v) => v.users)),
      y: { field: "ms", type: "quantitative", title: "lock wait (ms)" },
      color: { field: "stat", type: "nominal", title: "statistic", legend: { labelLimit: 0 } },
      shape: { field: "stat", type: "nominal", title: "statistic", scale: { range: ["circle", "square"] } },
    },
  };
}

/**
 * The hot spot runs many users against a few learners with almost no think
 * time, so it measures queueing on one pair's locks, not load: its latency is
 * drawn apart from the user-model runs, per path, with the coupler's lock wait.
 */
function hotSpotSpec(results: BenchResults): TopLevelSpec {
  const values = results.runs.flatMap((r) => {
    if (r.scenario !== "hot-spot" || !r.k6) return [];
    const path = r.variant ? `${r.target} ${r.variant}` : r.target;
    const latency = ["avg", "p95", "p99"].map((stat) => ({
      measure: `latency ${stat}`,
      path,
      ms: r.k6?.latency[stat as "avg" | "p95" | "p99"] ?? 0,
    }));
    const lock = r.lock
      ? [
          { measure: "lock wait avg", path, ms: r.lock.lockWaitAvgMs },
          { measure: "lock wait p95", path, ms: r.lock.lockWaitP95Ms },
        ]
      : [];
    return [...latency, ...lock];
  });
  const { vus, learners } = results.plan.hotSpot;
  return {
    $schema: SCHEMA,
    title: {
      text: `Hot spot: ${vus} users on ${learners} learners, little think time`,
      subtitle: "lock wait: coupler only (legacy takes no pair lock); its p95 is a bucket bound",
    },
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    mark: "bar",
    encoding: {
      x: { field: "measure", type: "nominal", sort: null, title: null, axis: { labelAngle: 0 } },
      xOffset: { field: "path", type: "nominal" },
      y: { field: "ms", type: "quantitative", title: "ms" },
      color: { field: "path", type: "nominal", title: "path" },
    },
  };
}
