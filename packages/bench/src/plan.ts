/** What one `pnpm bench` run measures; built from the command line by `parseBenchArgs`. */
import { scaleRuns, type ScalePlan, type ScaleSetupKey } from "./scale/scalePlan.ts";

export const SCENARIOS = [
  "level-up",
  "sync",
  "validate",
  "hot-spot",
  "saturation",
  "single",
  "level-up-rate",
  "validate-rate",
  "ceiling",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const TARGETS = ["coupler", "legacy"] as const;
/** `coupler`: progression.* (one locked transaction); `legacy`: bench.* (two transactions, no locks). */
export type Target = (typeof TARGETS)[number];

export interface BenchPlan {
  quick: boolean;
  /** Concurrent users (VUs) of the user-model scenarios (level-up, sync, validate). */
  levels: number[];
  /** Steady seconds of each run, after the ramp-up. */
  durationSeconds: number;
  rampUpSeconds: number;
  scenarios: ScenarioName[];
  targets: Target[];
  apiProcesses: number;
  /** Database pool size of each API process. */
  poolSize: number;
  /** Learners seeded per target (coupler and legacy get disjoint ones). */
  learners: number;
  /** Think time between a VU's requests in the user-model scenarios, ms. */
  thinkMs: { min: number; max: number };
  /**
   * XP per level-up. PLAYER tops out at level 10 (4,500 XP); the ranges keep
   * levels changing through a run, so license updates and history rows are
   * part of the measured work, as in real use.
   */
  xp: { min: number; max: number };
  hotSpot: {
    vus: number;
    learners: number;
    thinkMs: { min: number; max: number };
    xp: { min: number; max: number };
    /** Learners the "spread" variants share: the same load over many learners, the reference a hot spot is compared with. */
    spreadLearners: number;
    /** The coupler hot-spot runs besides the default one (combining on, one API process), each against an API of its own. */
    variants: HotSpotVariantName[];
  };
  /** Concurrency of the saturation run and of the ceiling beside it. */
  saturationVus: number;
  /** Results folder; a timestamped one under packages/bench/results when omitted. */
  outDir: string | undefined;
  /** Run PostgreSQL without fsync (only for an embedded server). */
  fastDb: boolean;
  /** Calls a second of the fixed-rate scenarios: level-up-rate (the API and the minimal baseline server) and validate-rate (the API). */
  rate: number;
  /** Node binary for the API processes and the minimal server; undefined = the one running the bench. */
  node: string | undefined;
  /**
   * Bench on Citus: DATABASE_URL is a coordinator (with workers), or, without
   * it, a coordinator and two workers are started from the installed
   * PostgreSQL (fsync on). The tables are distributed as `db:migrate --citus`
   * does, and "postgres" CPU is summed over every node's processes.
   */
  citus: boolean;
  /**
   * Another build of the API (its dist/main.js, e.g. a checkout of the base
   * commit): adds the "before" hot-spot variants and the fixed-rate runs
   * (level-up-rate, validate-rate) against it, in the same bench run. Each
   * fixed-rate "before" run has an "after" twin: this build in a process of
   * its own, started and warmed up the same way, so the two builds' CPU per
   * call is compared on equal terms (a process that has served the whole
   * run costs more per call than a fresh one).
   */
  beforeApi: string | undefined;
  /** Rounds of each headline run (see `isHeadline`), interleaved round-robin; other runs are made once. */
  rounds: number;
  /** Outside CPU share of the box's capacity above which a run is disturbed and made again (0.05 = 5%). */
  maxOutsideShare: number;
  /** How many more times a disturbed run is made before it is kept, marked disturbed. */
  disturbedRetries: number;
  /**
   * The Citus scale bench (`--citus` without DATABASE_URL or --scenarios):
   * the saturation level-up at `saturationVus` against a plain PostgreSQL and
   * a cluster per worker count, every node under the same CPU quota, direct
   * and coordinator routing side by side. Undefined for every other run.
   */
  scale?: ScalePlan | undefined;
}

/**
 * Hot-spot variants: `combining-off` (COUPLER_WRITE_COMBINING=off), `spread`
 * (the same VUs over `spreadLearners` learners), `workers-2` and
 * `workers-2-spread` (API_WORKERS=2), and, with `beforeApi`, `before` and
 * `before-spread` (that build, hot and spread). `before` also marks a
 * fixed-rate run against that build, and `after` its twin: this build in a
 * process of its own.
 */
export const HOT_SPOT_VARIANTS = [
  "combining-off",
  "spread",
  "workers-2",
  "workers-2-spread",
  "before",
  "before-spread",
  "after",
] as const;
export type HotSpotVariantName = (typeof HOT_SPOT_VARIANTS)[number];

/** How a hot-spot variant differs from the default run. */
export interface HotSpotVariant {
  name: HotSpotVariantName;
  /** Learners the VUs share. */
  learners: number;
  /** Environment of its API process, over the bench's. */
  apiEnv: Record<string, string>;
  /** Run the API build given as `beforeApi`. */
  before: boolean;
  /** This build in a process of its own, with nothing else changed: the twin a `before` run is compared with. */
  fresh: boolean;
}

/** What each variant changes. */
export function hotSpotVariant(plan: BenchPlan, name: HotSpotVariantName): HotSpotVariant {
  const spread = name.endsWith("spread");
  return {
    name,
    learners: spread ? plan.hotSpot.spreadLearners : plan.hotSpot.learners,
    apiEnv: {
      ...(name === "combining-off" ? { COUPLER_WRITE_COMBINING: "off" } : {}),
      ...(name.startsWith("workers-2") ? { API_WORKERS: "2" } : {}),
    },
    before: name.startsWith("before"),
    fresh: name === "after",
  };
}

/** The run starts an API process of its own (and warms it up): another environment, or the `beforeApi` build. */
export function ownsApi(plan: BenchPlan, run: PlannedRun): boolean {
  if (!run.variant) return false;
  const variant = hotSpotVariant(plan, run.variant);
  return variant.before || variant.fresh || Object.keys(variant.apiEnv).length > 0;
}

/** The full run: five levels, both paths, hot spot, saturation, one-at-a-time, fixed rate and ceiling, the headline runs in three rounds; about 57 minutes on 2 cores (one round: about 27). */
export const FULL_PLAN: BenchPlan = {
  quick: false,
  levels: [10, 50, 100, 500, 1000],
  durationSeconds: 30,
  rampUpSeconds: 5,
  scenarios: [...SCENARIOS],
  targets: [...TARGETS],
  apiProcesses: 1,
  poolSize: 50,
  learners: 20_000,
  thinkMs: { min: 500, max: 1500 },
  xp: { min: 20, max: 120 },
  // Small awards: a hot learner gets thousands of calls and would otherwise sit at the top level.
  hotSpot: {
    vus: 200,
    learners: 5,
    thinkMs: { min: 0, max: 100 },
    xp: { min: 1, max: 3 },
    spreadLearners: 2_000,
    variants: ["combining-off", "spread", "workers-2", "workers-2-spread"],
  },
  saturationVus: 50,
  outDir: undefined,
  fastDb: false,
  rate: 300,
  node: undefined,
  citus: false,
  beforeApi: undefined,
  rounds: 3,
  // A tenth of one core on the 2-core development box.
  maxOutsideShare: 0.05,
  disturbedRetries: 2,
};

/** `--quick`: every scenario, two small levels, a few seconds each: a smoke run of the pipeline. */
export const QUICK_PLAN: BenchPlan = {
  ...FULL_PLAN,
  quick: true,
  levels: [10, 50],
  durationSeconds: 5,
  rampUpSeconds: 2,
  learners: 2_000,
  hotSpot: { ...FULL_PLAN.hotSpot, vus: 20, learners: 2, spreadLearners: 1_000 },
  saturationVus: 10,
  // A smoke run of the pipeline: one round unless --rounds asks for more.
  rounds: 1,
};

/** One run of the plan, in the order they execute. */
export interface PlannedRun {
  id: string;
  scenario: ScenarioName;
  /** baseline: the minimal server (src/baseline), driven by the same k6 script as the API. */
  target: Target | "baseline" | "raw-pg" | "pgbench";
  vus: number;
  /** A hot-spot run that differs from the default one (see `HotSpotVariant`); `before` also marks a fixed-rate run against `beforeApi`, `after` its twin on this build. */
  variant?: HotSpotVariantName;
  /** A scale bench run: which setup (plain PostgreSQL, or a cluster of so many workers) and route it measures. */
  scale?: ScaleSetupKey;
}

/**
 * The runs the report's headline figures and targets come from, made in
 * `plan.rounds` rounds: the coupler's user-model rows at every level
 * (level-up, sync, validate), the legacy level-up at the smallest level (the
 * overhead target), the hot spot and its spread reference, saturation
 * against the minimal server, and the fixed-rate runs (level-up and validate,
 * with their "before" twins under --before-api). A new scenario
 * joins the rounds by being named here.
 */
export function isHeadline(plan: BenchPlan, run: PlannedRun): boolean {
  if (run.scale) return true;
  switch (run.scenario) {
    case "level-up":
      return run.target === "coupler" || run.vus === Math.min(...plan.levels);
    case "sync":
    case "validate":
      return run.target === "coupler";
    case "hot-spot":
      // The before/after pair (--before-api) is a comparison, so it is interleaved in rounds like the runs it compares.
      return (
        run.target === "coupler" &&
        (run.variant === undefined || run.variant === "spread" || hotSpotVariant(plan, run.variant).before)
      );
    case "saturation":
      return run.target === "coupler" || run.target === "baseline";
    case "level-up-rate":
    case "validate-rate":
      return true;
    default:
      return false;
  }
}

/** The runs a plan makes. validate has no legacy path, so it runs once. */
export function plannedRuns(plan: BenchPlan): PlannedRun[] {
  if (plan.scale) return scaleRuns(plan.scale, plan.saturationVus);
  const runs: PlannedRun[] = [];
  const add = (scenario: ScenarioName, target: PlannedRun["target"], vus: number) =>
    runs.push({ id: `${scenario}-${target}-${vus}`, scenario, target, vus });
  for (const scenario of ["level-up", "sync", "validate"] as const) {
    if (!plan.scenarios.includes(scenario)) continue;
    for (const vus of plan.levels) {
      for (const target of plan.targets) {
        if (scenario === "validate" && target === "legacy") continue;
        add(scenario, target, vus);
      }
    }
  }
  if (plan.scenarios.includes("hot-spot")) {
    for (const t of plan.targets) add("hot-spot", t, plan.hotSpot.vus);
    if (plan.targets.includes("coupler")) {
      const variants = [...plan.hotSpot.variants.filter((v) => !hotSpotVariant(plan, v).before && v !== "after")];
      if (plan.beforeApi) variants.push("before", "before-spread");
      for (const variant of variants) {
        runs.push({
          id: `hot-spot-coupler-${plan.hotSpot.vus}-${variant}`,
          scenario: "hot-spot",
          target: "coupler",
          vus: plan.hotSpot.vus,
          variant,
        });
      }
    }
  }
  // The minimal server beside the API: throughput at saturation, and one call at a time, compared in the same run.
  if (plan.scenarios.includes("saturation"))
    for (const t of [...plan.targets, "baseline"] as const) add("saturation", t, plan.saturationVus);
  if (plan.scenarios.includes("single")) for (const t of ["coupler", "baseline"] as const) add("single", t, 1);
  // At a fixed rate "vus" is the rate. A level-up runs against the API (coupler) and the baseline, to be compared;
  // validate against the API, to be compared with a level-up; with beforeApi each also against that build.
  for (const scenario of ["level-up-rate", "validate-rate"] as const) {
    if (!plan.scenarios.includes(scenario)) continue;
    add(scenario, "coupler", plan.rate);
    if (scenario === "level-up-rate") add(scenario, "baseline", plan.rate);
    // Before and after each in a fresh process of its own: the shared API has served every run so far.
    if (plan.beforeApi)
      for (const variant of ["before", "after"] as const)
        runs.push({
          id: `${scenario}-coupler-${plan.rate}-${variant}`,
          scenario,
          target: "coupler",
          vus: plan.rate,
          variant,
        });
  }
  if (plan.scenarios.includes("ceiling")) {
    add("ceiling", "raw-pg", plan.saturationVus);
    add("ceiling", "pgbench", plan.saturationVus);
  }
  return runs;
}

/** Rough wall time of a plan, in seconds: each run's ramp and steady phase plus start-up and audit. */
export function estimateSeconds(plan: BenchPlan): number {
  const perRunOverhead = plan.scale ? 8 : 4;
  // The scale bench starts a cluster per worker count and seeds every setup before its first run.
  const setupAndWarmUp = plan.scale ? 40 + 35 * plan.scale.workers.length : 45;
  return plannedRuns(plan).reduce(
    (sum, run) =>
      sum +
      (isHeadline(plan, run) ? plan.rounds : 1) *
        ((run.scenario === "ceiling" ? 2 : plan.rampUpSeconds) + plan.durationSeconds + perRunOverhead),
    setupAndWarmUp,
  );
}
