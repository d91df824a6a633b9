import type { BenchResults, RunResult } from "../results.ts";
import { medianView } from "../rounds.ts";

const ms = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined ? "—" : `${v.toFixed(digits)} ms`;
const rate = (v: number | undefined) => (v === undefined ? "—" : `${v.toFixed(0)}/s`);

/** A run's cells in both Citus tables: throughput, p50, p95, PostgreSQL and API CPU per call. */
const cells = (r: RunResult | undefined) => [
  rate(r?.k6?.throughput),
  ms(r?.k6?.latency.p50),
  ms(r?.k6?.latency.p95),
  ms(r?.cpu?.perCallMs.postgres, 3),
  ms(r?.cpu?.perCallMs.server, 3),
];

/**
 * The Citus section of BENCHMARKS.md: the coupler's runs of a `pnpm bench
 * --citus` results dir (a coordinator and its workers), each beside the same
 * run on a single PostgreSQL (`single`, when given: a run of the same plan
 * against one server). Throughput, latency and CPU per call, the
 * PostgreSQL column summed over every node's processes. Throws when
 * `citus` is not a Citus run.
 */
export function renderCitusSection(citusRounds: BenchResults, singleRounds?: BenchResults): string {
  // One row per run: the median of its undisturbed rounds.
  const citus = medianView(citusRounds);
  const single = singleRounds && medianView(singleRounds);
  if (citus.setup.database !== "citus")
    throw new Error(
      "renderCitusSection: the results dir is not a pnpm bench --citus run (setup.database is not citus)",
    );
  const runs = citus.runs.filter((r) => r.target === "coupler" && !r.skipped && r.k6);
  const twin = (run: RunResult) => single?.runs.find((r) => r.id === run.id && !r.skipped && r.k6);
  const workers = citus.setup.citus?.workers ?? [];
  const header = single
    ? "| run | VUs | single PG: throughput | p50 | p95 | PG CPU/call | API CPU/call | Citus: throughput | p50 | p95 | PG CPU/call (all nodes) | API CPU/call |"
    : "| run | VUs | throughput | p50 | p95 | PG CPU/call (all nodes) | API CPU/call |";
  const rows = runs.map((run) => {
    return `| ${run.scenario} | ${run.vus} | ${[...(single ? cells(twin(run)) : []), ...cells(run)].join(" | ")} |`;
  });
  const describe = (r: BenchResults) =>
    `${r.machine.postgres.split(" on ")[0]}, ${r.setup.apiProcesses} API process(es) with a pool of ${r.setup.poolSize}, fsync ${r.setup.fsync ? "on" : "off"}, ${r.plan.durationSeconds} s steady per run, Node ${r.setup.serverNode?.version ?? r.machine.node}, ${r.machine.k6}`;
  return [
    "## Citus: coordinator + 2 workers on this machine",
    "",
    `The coupler's runs of \`pnpm bench --citus\` (${citus.startedAt}): a Citus coordinator and ${workers.length} workers (${workers.join(", ")}), ` +
      `every per-learner table distributed by the learner's id as \`pnpm db:migrate --citus\` does; ${describe(citus)}.` +
      (single
        ? ` Beside them, the same runs against one PostgreSQL server (${single.startedAt}; ${describe(single)}).`
        : ""),
    "",
    "**Read this as a cost measurement, not a scale-out one.** All nodes, the API and k6 share one " +
      `${citus.machine.cores}-core machine, so Citus cannot add capacity here: every call takes an extra hop ` +
      "(API → coordinator → worker) and the coordinator's planning, and the CPU per call is the sum of all three nodes' processes. " +
      "Scale-out shows only with each worker on its own machine (cores, memory and disk of its own), the coordinator sized for " +
      "planning and routing, the API processes and the load generator elsewhere, and a load that saturates one server: then " +
      "throughput should grow with the workers, since every coupled call is single-shard.",
    "",
    header,
    `| ${header
      .split("|")
      .slice(1, -1)
      .map(() => "---")
      .join(" | ")} |`,
    ...rows,
    "",
  ].join("\n");
}

/** How SCALING.md names each scenario of its Citus table. */
const SCALING_LABELS: Partial<Record<RunResult["scenario"], (r: BenchResults) => string>> = {
  "level-up": (r) => `level-up (think time ${r.plan.thinkMs.min / 1000}–${r.plan.thinkMs.max / 1000} s)`,
  saturation: () => "saturation (no think time)",
  single: () => "single (1 VU, no think time)",
};

/**
 * SCALING.md's Citus table: the coupler's runs on one PostgreSQL and on the
 * Citus cluster side by side (throughput, p50, p95, CPU per call), from the
 * same two results as BENCHMARKS.md's Citus section; a test holds SCALING.md
 * to it. Throws when `citus` is not a Citus run.
 */
export function renderCitusScalingTable(citusRounds: BenchResults, singleRounds: BenchResults): string {
  const [citus, single] = [medianView(citusRounds), medianView(singleRounds)];
  if (citus.setup.database !== "citus")
    throw new Error("renderCitusScalingTable: the results dir is not a pnpm bench --citus run");
  const nodes = (citus.setup.citus?.workers.length ?? 0) + 1;
  const header = `| run | VUs | one PostgreSQL: throughput | p50 | p95 | PG CPU/call | API CPU/call | Citus: throughput | p50 | p95 | PG CPU/call (${nodes} nodes) | API CPU/call |`;
  const rows = citus.runs
    .filter((r) => r.target === "coupler" && !r.skipped && r.k6)
    .map((run) => {
      const twin = single.runs.find((r) => r.id === run.id && !r.skipped && r.k6);
      const label = SCALING_LABELS[run.scenario]?.(citus) ?? run.scenario;
      return `| ${label} | ${run.vus} | ${[...cells(twin), ...cells(run)].join(" | ")} |`;
    });
  return [header, `|${" --- |".repeat(12)}`, ...rows].join("\n");
}
