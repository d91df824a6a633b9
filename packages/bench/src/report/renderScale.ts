/**
 * The Citus scale bench in Markdown: its table, targets and connection count
 * (in report.md, BENCHMARKS.md and SCALING.md alike), and report.md around
 * them. Pure: from a results object only.
 */
import { FULL_PLAN } from "../plan.ts";
import type { BenchResults } from "../results.ts";
import type { Spread } from "../rounds.ts";
import { apiConnections } from "../scale/scaleInfo.ts";
import { rowLabel, scaleRows, scaleTargets, type ScaleRow } from "../scale/scaleRows.ts";
import type { Chart } from "./charts.ts";
import { table } from "./markdown.ts";
import { renderRounds } from "./renderRounds.ts";

const ms = (v: number | undefined, digits = 3) => (v === undefined ? "—" : `${v.toFixed(digits)} ms`);
const perSecond = (v: number) => `${v.toFixed(0)}/s`;
const pct = (v: number | undefined) => (v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
const spread = (s: Spread) =>
  s.min === s.max ? perSecond(s.median) : `${perSecond(s.median)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;

/** The command that makes this plan's scale run again. */
export function scaleCommand(results: BenchResults): string {
  const { plan, scale } = results;
  const args = [
    "--citus",
    ...(plan.quick ? ["--quick"] : []),
    "--citus-workers",
    (plan.scale?.workers ?? []).join(","),
    "--node-cores",
    String(scale?.nodeCores ?? plan.scale?.nodeCores),
    "--saturation-vus",
    String(plan.saturationVus),
    "--learners",
    String(plan.learners),
    "--rounds",
    String(plan.rounds),
    "--duration",
    String(plan.durationSeconds),
    // The disturbance policy, where it is not the default: a reader re-running the command gets the same one.
    ...(plan.maxOutsideShare !== FULL_PLAN.maxOutsideShare
      ? ["--max-outside-cpu", String(Number((plan.maxOutsideShare * 100).toFixed(2)))]
      : []),
    ...(plan.disturbedRetries !== FULL_PLAN.disturbedRetries
      ? ["--disturbed-retries", String(plan.disturbedRetries)]
      : []),
  ];
  return `PATH=/usr/lib/postgresql/15/bin:$PATH K6_BIN=/opt/k6/k6 pnpm bench ${args.join(" ")}`;
}

function tableRows(rows: ScaleRow[]): string[][] {
  const plain = rows.find((r) => r.key.route === "server")?.postgresMs;
  return rows.map((row) => {
    const one = rows.find((r) => r.key.workers === 1 && r.key.route === row.key.route);
    const citus = row.key.route !== "server";
    const workers = row.nodeMs?.slice(1) ?? [];
    return [
      `${rowLabel(row.key)}${row.allDisturbed ? " (every round disturbed)" : ""}`,
      spread(row.levelUps),
      citus && one && one !== row ? `${(row.levelUps.median / one.levelUps.median).toFixed(2)}×` : "—",
      ms(row.avgMs, 0),
      ms(row.p95Ms, 0),
      row.errors.toFixed(0),
      citus ? ms(row.coordinatorMs) : "—",
      citus
        ? `${ms(row.workersMs)}${workers.length > 1 ? ` (${workers.map((w) => w.toFixed(3)).join(" + ")})` : ""}`
        : "—",
      ms(row.postgresMs),
      citus && plain && row.postgresMs !== undefined ? `${(row.postgresMs / plain).toFixed(2)}×` : "—",
      ms(row.apiMs),
      row.workerBusy.length > 0 ? row.workerBusy.map((b) => pct(b)).join(", ") : "—",
      pct(row.outsideShare),
      `${row.undisturbed} of ${row.rounds}`,
    ];
  });
}

/**
 * The scale table, its targets and the connections each setup opened; the
 * block SCALING.md and BENCHMARKS.md carry, generated from a committed
 * summary. Throws when `results` is not a scale run.
 */
export function renderScaleTables(results: BenchResults): string {
  const { scale, plan } = results;
  if (!scale || !plan.scale) throw new Error("renderScaleTables: not a pnpm bench --citus scale run (no scale setup)");
  if (scale.skipped) return `The scale bench was skipped: ${scale.skipped}.`;
  const rows = scaleRows(results);
  const commit = results.source?.commit ? results.source.commit.slice(0, 12) : "an unknown commit";
  const { pools } = scale;
  const direct = plan.scale.workers
    .map((w) => `${apiConnections(pools, w, "direct")} with ${w} worker${w === 1 ? "" : "s"}`)
    .join(", ");
  return [
    `Measured ${results.startedAt} from commit ${commit}${results.source?.dirty ? " with uncommitted changes" : ""} with \`${scaleCommand(results)}\`: ` +
      `every PostgreSQL node (the plain server, each coordinator, each worker) held to ${scale.nodeCores} core by a cgroup of its own; ` +
      `level-ups with no think time, ${plan.saturationVus} VUs over ${plan.learners} learners per setup and route; ` +
      `${plan.rounds} round(s) of ${plan.durationSeconds} s steady, interleaved; the median of the undisturbed rounds, the range in brackets. ` +
      `CPU per call: each node's ${scale.nodeCpu === "cpuacct" ? "cgroup (the kernel's cpuacct.usage)" : "postmaster tree (/proc)"} and the API process (/proc) over the steady window, per call made. ` +
      `"Workers busy" is each worker's CPU over the window as a share of its quota: near 100% means PostgreSQL, not the API or k6, limited the run.`,
    "",
    table(
      [
        "setup",
        "level-ups/s",
        "× 1 worker",
        "avg",
        "P95",
        "errors/round",
        "coordinator CPU/call",
        "workers' CPU/call",
        "PG CPU/call, all nodes",
        "× plain",
        "API CPU/call",
        "workers busy (of quota)",
        "outside CPU",
        "undisturbed rounds",
      ],
      tableRows(rows),
    ),
    "",
    table(
      ["Target (issue 21)", "Measured", "Met"],
      scaleTargets(rows).map((t) => [t.target, t.measured, t.met === null ? "not judged" : t.met ? "yes" : "**no**"]),
    ),
    "",
    `Connections: each API process opened at most ${pools.coordinator} (\`DB_POOL_SIZE\`) to the plain server or the coordinator; ` +
      `under coordinator routing that is all, and the coordinator opens its own to the workers; under direct routing it adds ` +
      `${pools.perWorker} (\`COUPLER_CITUS_POOL_SIZE\`) per worker: ${pools.coordinator} + W × ${pools.perWorker} per API process, ${direct} ` +
      `(${pools.apiProcesses} API process per setup and route here).`,
  ].join("\n");
}

/** The chart (when there is one) and the tables: SCALING.md's generated block. */
export function renderScaleBlock(results: BenchResults, chartFile: string | undefined): string {
  return [
    ...(chartFile && !results.scale?.skipped ? [`![Level-ups per second against workers](${chartFile})`, ""] : []),
    renderScaleTables(results),
  ].join("\n");
}

/** BENCHMARKS.md's and report.md's scale section: what was measured, the chart, and the tables. */
export function renderScaleSection(results: BenchResults, chartFile: string | undefined): string {
  const workers = results.plan.scale?.workers.join(", ") ?? "";
  return [
    `## Citus scale-out: ${workers} workers, every node held to ${results.scale?.nodeCores ?? "?"} core`,
    "",
    "Each worker count is a cluster of its own on this machine, every node under the same CPU quota as if it were a small machine, " +
      "the API routing each learner's calls to the worker that holds it (`direct`) or through the coordinator (`coordinator`), " +
      "beside one plain PostgreSQL under the same quota.",
    "",
    renderScaleBlock(results, chartFile),
    "",
  ].join("\n");
}

/** report.md of a scale run: the section, the rounds and their disturbance, and the machine. */
export function renderScaleReport(results: BenchResults, charts: Chart[]): string {
  const { machine, setup } = results;
  const out = [
    `# Coupler Citus scale bench — ${results.startedAt.slice(0, 10)}`,
    `Run on **${machine.hostname}** (${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB), ` +
      `${results.plan.quick ? "**--quick smoke run** (short runs: indicative only)" : "full run"}, ${Math.round(results.elapsedSeconds / 60)} min in all.`,
    renderScaleSection(results, charts[0]?.file).trimEnd(),
    ...renderRounds(results),
    "## Machine and method",
    table(
      ["", ""],
      [
        ["Host", `${machine.hostname}, ${machine.os}`],
        ["CPU", `${machine.cores} × ${machine.cpuModel}`],
        ["Node", setup.serverNode?.version ?? machine.node],
        ["PostgreSQL", `${machine.postgres} (fsync ${setup.fsync ? "on" : "off"})`],
        ["k6", machine.k6],
        ...(results.scale?.setups ?? []).map((s) => [
          s.workers === 0 ? "plain server" : `${s.workers}-worker cluster`,
          s.nodes.map((n) => `${n.name} ${n.address}`).join(", "),
        ]),
      ],
    ),
    "- k6, the API processes and every PostgreSQL node share this machine (loopback only); the nodes of the setups not running sit idle.\n" +
      `- Each API process is warmed up for 3 s before the first run; each run ramps up for ${results.plan.rampUpSeconds} s, then holds for ${results.plan.durationSeconds} s, and only the steady phase counts. ` +
      "Level-ups/s counts the calls that succeeded; errors (UNAVAILABLE when a call waited past its budget for a connection, LOCK_TIMEOUT) are beside it.\n" +
      "- The integrity audit runs after every run on the setup's whole database.",
  ];
  return `${out.join("\n\n")}\n`;
}
