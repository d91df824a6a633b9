import { parseArgs } from "node:util";
import {
  FULL_PLAN,
  HOT_SPOT_VARIANTS,
  QUICK_PLAN,
  SCENARIOS,
  TARGETS,
  type BenchPlan,
  type ScenarioName,
  type Target,
} from "./plan.ts";
import { DEFAULT_SCALE_PLAN, SCALE_LEARNERS, SCALE_VUS, type ScalePlan } from "./scale/scalePlan.ts";

/** Exit code for a bad command line: 2, like every other executable here (and the shells' usage errors). */
export const USAGE_EXIT_CODE = 2;

export class UsageError extends Error {
  override name = "UsageError";
  readonly exitCode = USAGE_EXIT_CODE;
}

export const USAGE = `Usage: pnpm bench [options]

Starts PostgreSQL (embedded, or DATABASE_URL) and the API in bench mode, seeds
learners, runs k6 against the coupler and the legacy path, measures the raw-pg
ceiling, and writes packages/bench/results/<timestamp>/ (report.md, summary.json, charts).

Options (the defaults are a full run's; --quick has its own):
  --quick                 short smoke run of every scenario (levels ${QUICK_PLAN.levels.join(",")}; ${QUICK_PLAN.durationSeconds} s each)
  --levels N,N,…          concurrent users of level-up / sync / validate (default ${FULL_PLAN.levels.join(",")})
  --duration SECONDS      steady seconds per run, after the ramp-up; also "30s", "1m" (default ${FULL_PLAN.durationSeconds})
  --ramp-up SECONDS       ramp-up seconds per run (default ${FULL_PLAN.rampUpSeconds})
  --scenarios a,b         any of ${SCENARIOS.join(", ")} (default: all)
  --targets a,b           any of ${TARGETS.join(", ")} (default: both)
  --api-processes N       API processes; VUs are spread over them (default ${FULL_PLAN.apiProcesses})
  --pool-size N           database pool size of each API process (default ${FULL_PLAN.poolSize})
  --learners N            learners seeded per target (default ${FULL_PLAN.learners})
  --saturation-vus N      concurrency of the saturation run and the ceiling (default ${FULL_PLAN.saturationVus})
  --hot-spot-vus N        VUs of the hot-spot run (default ${FULL_PLAN.hotSpot.vus})
  --hot-spot-learners N   learners the hot-spot VUs share (default ${FULL_PLAN.hotSpot.learners})
  --hot-spot-spread N     learners of the hot spot's "spread" variants, the same load over many learners
                          (default ${FULL_PLAN.hotSpot.spreadLearners})
  --hot-spot-variants a,b coupler hot-spot runs besides the default (combining on, 1 process): any of
                          combining-off, spread, workers-2, workers-2-spread, or none (default: all four)
  --before-api PATH       another API build's dist/main.js (e.g. the base commit's): adds hot-spot runs
                          "before" and "before-spread" and the fixed-rate runs against it, in the same run,
                          each fixed-rate one twinned with this build in a process of its own (default: none)
  --out DIR               results folder (default packages/bench/results/<timestamp>)
  --fast-db               embedded PostgreSQL without fsync, faster and not durable (default off)
  --rate PER_SECOND       also run level-ups at this fixed rate (k6 constant-arrival-rate) against
                          the API and the minimal baseline server, CPU per call of each; validate-rate runs
                          at it too (default ${FULL_PLAN.rate} when a fixed-rate scenario runs)
  --node PATH             Node binary for the API processes and the minimal server (default: BENCH_NODE,
                          else this Node)
  --citus                 on Citus: DATABASE_URL is the coordinator, or a coordinator + 2 workers are started
                          from the installed PostgreSQL (fsync on); tables distributed as db:migrate --citus;
                          PostgreSQL CPU summed over all nodes (default off). With --citus-workers or
                          --node-cores (and neither DATABASE_URL nor --scenarios): the scale bench, the
                          saturation level-up (--saturation-vus, default ${SCALE_VUS}; --learners, default ${SCALE_LEARNERS})
                          against one plain PostgreSQL and a cluster per --citus-workers count, every node
                          held to --node-cores by a cgroup, direct and coordinator routing side by side,
                          in --rounds rounds
  --citus-workers N,N,…   the scale bench's worker counts, a cluster each (default ${DEFAULT_SCALE_PLAN.workers.join(",")})
  --node-cores CORES      the scale bench's CPU quota of every PostgreSQL node, in cores, e.g. 0.25
                          (default ${DEFAULT_SCALE_PLAN.nodeCores})
  --rounds N              rounds of each headline run (the seed's user rows, hot spot and its spread twin,
                          saturation, fixed rate), interleaved round-robin; the report gives their median and
                          range and judges targets on the median of undisturbed rounds (default ${FULL_PLAN.rounds}; --quick ${QUICK_PLAN.rounds})
  --max-outside-cpu PCT   a run is disturbed when CPU outside it (machine busy time, steal included, less k6,
                          the API, PostgreSQL and the bench) passes PCT % of the box's capacity
                          (cores × wall time) over its measured window (default ${FULL_PLAN.maxOutsideShare * 100})
  --disturbed-retries N   times a disturbed run is made again before it is kept, marked disturbed (default ${FULL_PLAN.disturbedRetries})
  --compare A B           runs nothing: prints the headline figures of two results folders (summary.json)
                          side by side, flagging changes larger than the noise their rounds measured
                          (default: no comparison, a run)
  -h, --help              this text

Environment: K6_BIN (else k6 on PATH), PGBENCH_BIN (else pgbench on PATH), DATABASE_URL, BENCH_NODE.`;

/** Scenario names from before the bench used core's operation names; still accepted on the command line. */
const SCENARIO_ALIASES: Record<string, ScenarioName> = { validation: "validate" };

export type ParsedArgs =
  | { help: true }
  | { help: false; compare: { a: string; b: string } }
  | { help: false; compare?: undefined; plan: BenchPlan };

/** Turns `pnpm bench` arguments into a plan; `--quick` picks the smoke defaults, other flags override. */
export function parseBenchArgs(
  argv: string[],
  env: { BENCH_NODE?: string | undefined; DATABASE_URL?: string | undefined } = {},
): ParsedArgs {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      strict: true,
      // Only --compare takes a second folder as a positional; anything else positional is refused below.
      allowPositionals: true,
      options: {
        quick: { type: "boolean" },
        levels: { type: "string" },
        duration: { type: "string" },
        "ramp-up": { type: "string" },
        scenarios: { type: "string" },
        targets: { type: "string" },
        "api-processes": { type: "string" },
        "pool-size": { type: "string" },
        learners: { type: "string" },
        "saturation-vus": { type: "string" },
        "hot-spot-vus": { type: "string" },
        "hot-spot-learners": { type: "string" },
        "hot-spot-spread": { type: "string" },
        "hot-spot-variants": { type: "string" },
        "before-api": { type: "string" },
        out: { type: "string" },
        "fast-db": { type: "boolean" },
        rate: { type: "string" },
        node: { type: "string" },
        citus: { type: "boolean" },
        "citus-workers": { type: "string" },
        "node-cores": { type: "string" },
        rounds: { type: "string" },
        "max-outside-cpu": { type: "string" },
        "disturbed-retries": { type: "string" },
        compare: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    // One line (parseArgs's messages are), then where the usage is.
    throw new UsageError(
      `pnpm bench: ${error instanceof Error ? error.message : String(error)} (pnpm bench --help for usage)`,
      { cause: error },
    );
  }
  if (values.help) return { help: true };
  if (values.compare !== undefined) {
    const [b, ...extra] = positionals;
    if (b === undefined || extra.length > 0)
      throw new UsageError("pnpm bench: --compare takes two results folders: --compare <results A> <results B>");
    return { help: false, compare: { a: values.compare, b } };
  }
  if (positionals.length > 0)
    throw new UsageError(
      `pnpm bench: Unexpected argument '${positionals[0]}'. This command does not take positional arguments (pnpm bench --help for usage)`,
    );
  const base = values.quick ? QUICK_PLAN : FULL_PLAN;
  const scenarios =
    values.scenarios === undefined
      ? base.scenarios
      : oneOf(
          list(values.scenarios, "--scenarios").map((s) => SCENARIO_ALIASES[s] ?? s),
          SCENARIOS,
          "--scenarios",
        );
  const plan: BenchPlan = {
    ...base,
    levels:
      values.levels === undefined
        ? base.levels
        : list(values.levels, "--levels").map((v) => count(v, "--levels", 1, 10_000)),
    durationSeconds: values.duration === undefined ? base.durationSeconds : seconds(values.duration, "--duration", 1),
    rampUpSeconds: values["ramp-up"] === undefined ? base.rampUpSeconds : seconds(values["ramp-up"], "--ramp-up", 0),
    // --rate asks for the fixed-rate scenario on top of the others.
    scenarios:
      values.rate === undefined || scenarios.includes("level-up-rate") ? scenarios : [...scenarios, "level-up-rate"],
    targets:
      values.targets === undefined ? base.targets : oneOf(list(values.targets, "--targets"), TARGETS, "--targets"),
    apiProcesses: option(values["api-processes"], "--api-processes", base.apiProcesses, 1, 16),
    poolSize: option(values["pool-size"], "--pool-size", base.poolSize, 1, 500),
    learners: option(values.learners, "--learners", base.learners, 1, 1_000_000),
    saturationVus: option(values["saturation-vus"], "--saturation-vus", base.saturationVus, 1, 5_000),
    hotSpot: {
      ...base.hotSpot,
      vus: option(values["hot-spot-vus"], "--hot-spot-vus", base.hotSpot.vus, 1, 10_000),
      learners: option(values["hot-spot-learners"], "--hot-spot-learners", base.hotSpot.learners, 1, 1_000_000),
      spreadLearners: option(values["hot-spot-spread"], "--hot-spot-spread", base.hotSpot.spreadLearners, 1, 1_000_000),
      variants:
        values["hot-spot-variants"] === undefined
          ? base.hotSpot.variants
          : values["hot-spot-variants"] === "none"
            ? []
            : oneOf(
                list(values["hot-spot-variants"], "--hot-spot-variants"),
                HOT_SPOT_VARIANTS.filter((v) => !v.startsWith("before") && v !== "after"),
                "--hot-spot-variants",
              ),
    },
    outDir: values.out ?? base.outDir,
    fastDb: values["fast-db"] ?? base.fastDb,
    rate: option(values.rate, "--rate", base.rate, 1, 100_000),
    node: values.node ?? (env.BENCH_NODE || base.node),
    citus: values.citus ?? base.citus,
    beforeApi: values["before-api"] ?? base.beforeApi,
    rounds: option(values.rounds, "--rounds", base.rounds, 1, 20),
    maxOutsideShare:
      values["max-outside-cpu"] === undefined
        ? base.maxOutsideShare
        : percent(values["max-outside-cpu"], "--max-outside-cpu") / 100,
    disturbedRetries: option(values["disturbed-retries"], "--disturbed-retries", base.disturbedRetries, 0, 10),
  };
  const scale = scalePlan(values, env);
  if (scale) {
    plan.scale = scale;
    plan.saturationVus = option(values["saturation-vus"], "--saturation-vus", SCALE_VUS, 1, 5_000);
    plan.learners = option(values.learners, "--learners", SCALE_LEARNERS, 1, 1_000_000);
    return { help: false, plan };
  }
  if (plan.hotSpot.learners > plan.learners) {
    throw new UsageError(`--hot-spot-learners (${plan.hotSpot.learners}) cannot exceed --learners (${plan.learners})`);
  }
  if (plan.hotSpot.spreadLearners > plan.learners) {
    throw new UsageError(
      `--hot-spot-spread (${plan.hotSpot.spreadLearners}) cannot exceed --learners (${plan.learners})`,
    );
  }
  return { help: false, plan: { ...plan, levels: [...new Set(plan.levels)].sort((a, b) => a - b) } };
}

/**
 * The scale bench's plan when this run is one: `--citus` with
 * `--citus-workers` or `--node-cores`, without DATABASE_URL and without
 * --scenarios. Its flags anywhere else are a usage error rather than
 * silently ignored.
 */
function scalePlan(
  values: { citus?: boolean; scenarios?: string; "citus-workers"?: string; "node-cores"?: string },
  env: { DATABASE_URL?: string | undefined },
): ScalePlan | undefined {
  const given = values["citus-workers"] !== undefined || values["node-cores"] !== undefined;
  // --citus alone keeps its meaning (the scenarios on one cluster): scripts rely on it.
  if (!given) return undefined;
  if (!values.citus || values.scenarios !== undefined || env.DATABASE_URL)
    throw new UsageError(
      "--citus-workers and --node-cores belong to the scale bench: --citus with either of them, without --scenarios and without DATABASE_URL (it starts its own clusters)",
    );
  const workers =
    values["citus-workers"] === undefined
      ? DEFAULT_SCALE_PLAN.workers
      : list(values["citus-workers"], "--citus-workers").map((v) => count(v, "--citus-workers", 1, 16));
  const nodeCores =
    values["node-cores"] === undefined ? DEFAULT_SCALE_PLAN.nodeCores : cores(values["node-cores"], "--node-cores");
  return { workers: [...new Set(workers)].sort((a, b) => a - b), nodeCores };
}

/** A CPU quota in cores: a decimal from 0.01 to 64 ("0.25", "1"). */
function cores(raw: string, flag: string): number {
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || n < 0.01 || n > 64)
    throw new UsageError(`${flag}: "${raw}" is not a number of cores from 0.01 to 64`);
  return n;
}

function list(raw: string, flag: string): string[] {
  const items = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (items.length === 0) throw new UsageError(`${flag} needs at least one value`);
  return items;
}

function oneOf<T extends string>(items: string[], allowed: readonly T[], flag: string): T[] {
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item)) {
      throw new UsageError(`${flag}: unknown value "${item}"; choose from ${allowed.join(", ")}`);
    }
  }
  return [...new Set(items as T[])];
}

function count(raw: string, flag: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag}: "${raw}" is not a whole number from ${min} to ${max}`);
  }
  return n;
}

function option(raw: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  return raw === undefined ? fallback : count(raw, flag, min, max);
}

/** A percentage from 0 to 100, decimals allowed ("5", "2.5"). */
function percent(raw: string, flag: string): number {
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || n > 100)
    throw new UsageError(`${flag}: "${raw}" is not a percentage from 0 to 100`);
  return n;
}

/** "30", "30s" or "2m" as seconds. */
function seconds(raw: string, flag: string, min: number): number {
  const match = /^(\d+)(s|m)?$/.exec(raw.trim());
  const value = match?.[1];
  if (!match || value === undefined) throw new UsageError(`${flag}: "${raw}" is not a duration like 30, 30s or 2m`);
  const n = Number(value) * (match[2] === "m" ? 60 : 1);
  if (n < min || n > 3600) throw new UsageError(`${flag}: ${raw} must be from ${min} s to 1 h`);
  return n;
}

export type { ScenarioName, Target };
