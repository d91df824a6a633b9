import { describe, expect, it } from "vitest";
import { USAGE, UsageError, parseBenchArgs } from "./parseBenchArgs.ts";
import { FULL_PLAN, QUICK_PLAN, estimateSeconds, hotSpotVariant, plannedRuns, type BenchPlan } from "./plan.ts";
import { DEFAULT_SCALE_PLAN } from "./scale/scalePlan.ts";

function plan(argv: string[]): BenchPlan {
  const parsed = parseBenchArgs(argv);
  if (parsed.help || parsed.compare) throw new Error("expected a plan");
  return parsed.plan;
}

describe("parseBenchArgs", () => {
  it("uses the full plan without arguments: five levels, every scenario, both paths", () => {
    expect(plan([])).toEqual(FULL_PLAN);
    expect(FULL_PLAN.levels).toEqual([10, 50, 100, 500, 1000]);
  });

  it("uses the smoke plan with --quick and lets other flags override it", () => {
    expect(plan(["--quick"])).toEqual(QUICK_PLAN);
    const p = plan([
      "--quick",
      "--levels",
      "100,10,100",
      "--duration",
      "1m",
      "--scenarios",
      "level-up,ceiling",
      "--api-processes",
      "2",
    ]);
    expect(p.quick).toBe(true);
    expect(p.levels).toEqual([10, 100]);
    expect(p.durationSeconds).toBe(60);
    expect(p.scenarios).toEqual(["level-up", "ceiling"]);
    expect(p.apiProcesses).toBe(2);
    expect(p.learners).toBe(QUICK_PLAN.learners);
  });

  it("takes --scenarios validation, the name before the bench used core's `validate`, as validate", () => {
    expect(plan(["--scenarios", "validation,validate,sync"]).scenarios).toEqual(["validate", "sync"]);
  });

  it("reads durations as seconds with or without a unit", () => {
    expect(plan(["--duration", "45"]).durationSeconds).toBe(45);
    expect(plan(["--duration", "45s"]).durationSeconds).toBe(45);
    expect(plan(["--ramp-up", "0"]).rampUpSeconds).toBe(0);
  });

  it("takes the output folder, targets and fast-db switch", () => {
    const p = plan(["--out", "/tmp/x", "--targets", "coupler", "--fast-db"]);
    expect(p.outDir).toBe("/tmp/x");
    expect(p.targets).toEqual(["coupler"]);
    expect(p.fastDb).toBe(true);
  });

  it("says in --help what each option's default is, as '(default …)', and states the full run's real values", () => {
    // An option's text runs from its "  --" line to the next one (continuation lines included).
    const options = USAGE.split("\n  -").filter(
      (text) => text.startsWith("-") && !text.startsWith("-quick") && !text.startsWith("h, --help"),
    );
    expect(options.length).toBeGreaterThan(10);
    for (const text of options) expect(text, text).toMatch(/\(default[ :]/);
    expect(USAGE).toContain(`(default ${FULL_PLAN.durationSeconds})`);
    expect(USAGE).toContain(`(default ${FULL_PLAN.rate}`);
    expect(USAGE).not.toMatch(/--duration 30 /); // a value in the flag column read as the default (regression)
  });

  it("runs the headline runs in three rounds with a 5% outside-CPU threshold and two retries, a quick run in one round", () => {
    expect(FULL_PLAN).toMatchObject({ rounds: 3, maxOutsideShare: 0.05, disturbedRetries: 2 });
    expect(QUICK_PLAN.rounds).toBe(1);
    const p = plan(["--quick", "--rounds", "4", "--max-outside-cpu", "2.5", "--disturbed-retries", "0"]);
    expect(p).toMatchObject({ rounds: 4, maxOutsideShare: 0.025, disturbedRetries: 0 });
  });

  it("takes --compare with two results folders and plans no run", () => {
    expect(parseBenchArgs(["--compare", "results/a", "results/b"])).toEqual({
      help: false,
      compare: { a: "results/a", b: "results/b" },
    });
  });

  it("returns help for --help and -h", () => {
    expect(parseBenchArgs(["--help"])).toEqual({ help: true });
    expect(parseBenchArgs(["-h"])).toEqual({ help: true });
  });

  it.each([
    [["--levels", "ten"], /--levels: "ten" is not a whole number/],
    [["--levels", "0"], /from 1 to 10000/],
    [["--levels", ","], /--levels needs at least one value/],
    [["--scenarios", "level-up,soak"], /unknown value "soak"/],
    [["--targets", "both"], /unknown value "both"/],
    [["--duration", "5h"], /not a duration/],
    [["--duration", "0"], /must be from 1 s/],
    [["--api-processes", "-1"], /--api-processes/],
    [["--frobnicate"], /Unknown option '--frobnicate'/],
    [["stray"], /positional/],
    [["--rounds", "0"], /--rounds: "0" is not a whole number from 1 to 20/],
    [["--max-outside-cpu", "150"], /not a percentage from 0 to 100/],
    [["--max-outside-cpu=-1"], /not a percentage from 0 to 100/],
    [["--disturbed-retries", "11"], /from 0 to 10/],
    [["--compare", "a"], /--compare takes two results folders/],
    [["--compare", "a", "b", "c"], /--compare takes two results folders/],
    [["--learners", "3", "--hot-spot-learners", "5"], /cannot exceed --learners/],
  ])("refuses %j with a usage error", (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(UsageError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });
});

describe("a bad pnpm bench command line", () => {
  it("is one line pointing at --help, with exit code 2 like the other executables", () => {
    const error = (() => {
      try {
        parseBenchArgs(["--frobnicate"]);
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).message.split("\n")).toHaveLength(1);
    expect((error as UsageError).message).toContain("pnpm bench --help");
    expect((error as UsageError).exitCode).toBe(2);
  });
});

describe("plannedRuns", () => {
  it("runs level-up and sync on both paths at every level, validate once, then hot spot, saturation and the two ceilings", () => {
    const runs = plannedRuns(FULL_PLAN);
    const count = (scenario: string) => runs.filter((r) => r.scenario === scenario).length;
    expect(count("level-up")).toBe(10);
    expect(count("sync")).toBe(10);
    expect(count("validate")).toBe(5);
    expect(runs.filter((r) => r.scenario === "validate").every((r) => r.target === "coupler")).toBe(true);
    expect(runs.filter((r) => r.scenario === "ceiling").map((r) => r.target)).toEqual(["raw-pg", "pgbench"]);
    expect(new Set(runs.map((r) => r.id)).size).toBe(runs.length);
  });

  it("plans the full run, its headline runs in three rounds, to fit in an hour, and one round in 30 minutes", () => {
    expect(estimateSeconds(FULL_PLAN)).toBeLessThanOrEqual(60 * 60);
    expect(estimateSeconds({ ...FULL_PLAN, rounds: 1 })).toBeLessThanOrEqual(30 * 60);
  });

  it("runs the coupler's hot spot with combining on, off, spread over many learners and on two workers, and the legacy hot spot", () => {
    const hot = plannedRuns(FULL_PLAN).filter((r) => r.scenario === "hot-spot");
    expect(hot.map((r) => r.id)).toEqual([
      "hot-spot-coupler-200",
      "hot-spot-legacy-200",
      "hot-spot-coupler-200-combining-off",
      "hot-spot-coupler-200-spread",
      "hot-spot-coupler-200-workers-2",
      "hot-spot-coupler-200-workers-2-spread",
    ]);
    expect(hotSpotVariant(FULL_PLAN, "combining-off")).toEqual({
      name: "combining-off",
      learners: 5,
      apiEnv: { COUPLER_WRITE_COMBINING: "off" },
      before: false,
      fresh: false,
    });
    expect(hotSpotVariant(FULL_PLAN, "workers-2-spread")).toEqual({
      name: "workers-2-spread",
      learners: 2000,
      apiEnv: { API_WORKERS: "2" },
      before: false,
      fresh: false,
    });
  });

  it("adds the before build's hot spot, hot and spread, with --before-api, and drops the variants with --hot-spot-variants none", () => {
    const parsed = parseBenchArgs([
      "--scenarios",
      "hot-spot",
      "--targets",
      "coupler",
      "--hot-spot-variants",
      "none",
      "--before-api",
      "/tmp/base/main.js",
    ]);
    if (parsed.help || parsed.compare) throw new Error("expected a plan");
    expect(plannedRuns(parsed.plan).map((r) => r.id)).toEqual([
      "hot-spot-coupler-200",
      "hot-spot-coupler-200-before",
      "hot-spot-coupler-200-before-spread",
    ]);
    expect(parsed.plan.beforeApi).toBe("/tmp/base/main.js");
    expect(() => parseBenchArgs(["--hot-spot-variants", "before"])).toThrow(UsageError);
    expect(() => parseBenchArgs(["--hot-spot-variants", "after"])).toThrow(UsageError);
  });

  it("keeps only the chosen scenarios and targets, with the minimal baseline beside saturation", () => {
    const runs = plannedRuns({ ...FULL_PLAN, scenarios: ["saturation"], targets: ["legacy"] });
    expect(runs.map((r) => r.id)).toEqual(["saturation-legacy-50", "saturation-baseline-50"]);
  });

  it("runs the fixed-rate and one-at-a-time pairs, API and minimal baseline, in the full run, and adds the fixed rate with --rate", () => {
    const full = plannedRuns(FULL_PLAN).map((r) => r.id);
    expect(full).toEqual(
      expect.arrayContaining([
        "level-up-rate-coupler-300",
        "level-up-rate-baseline-300",
        "single-coupler-1",
        "single-baseline-1",
      ]),
    );
    const p = plan(["--rate", "300", "--scenarios", "saturation"]);
    expect(p.rate).toBe(300);
    expect(plannedRuns(p).map((r) => r.id)).toEqual([
      "saturation-coupler-50",
      "saturation-legacy-50",
      "saturation-baseline-50",
      "level-up-rate-coupler-300",
      "level-up-rate-baseline-300",
    ]);
    expect(plan(["--scenarios", "level-up-rate"]).rate).toBe(FULL_PLAN.rate);
    expect(() => plan(["--rate", "0"])).toThrow(UsageError);
  });

  it("takes the API's Node binary from --node, else BENCH_NODE", () => {
    expect(plan([]).node).toBeUndefined();
    const fromEnv = parseBenchArgs([], { BENCH_NODE: "/opt/node24/bin/node" });
    expect("plan" in fromEnv && fromEnv.plan.node).toBe("/opt/node24/bin/node");
    const fromFlag = parseBenchArgs(["--node", "/usr/bin/node"], { BENCH_NODE: "/opt/node24/bin/node" });
    expect("plan" in fromFlag && fromFlag.plan.node).toBe("/usr/bin/node");
  });
});

describe("the Citus scale bench's command line", () => {
  it("makes --citus with --citus-workers or --node-cores the scale bench: by default 1, 2 and 4 workers at a quarter core per node, 64 VUs over 5,000 learners", () => {
    const p = plan(["--citus", "--citus-workers", "1,2,4"]);
    expect(p.scale).toEqual(DEFAULT_SCALE_PLAN);
    expect(plan(["--citus", "--node-cores", "0.25"]).scale).toEqual(DEFAULT_SCALE_PLAN);
    expect(DEFAULT_SCALE_PLAN).toEqual({ workers: [1, 2, 4], nodeCores: 0.25 });
    expect(p).toMatchObject({ citus: true, saturationVus: 64, learners: 5_000, rounds: 3 });
    expect(plan(["--citus", "--node-cores", "0.25", "--quick"])).toMatchObject({
      quick: true,
      rounds: 1,
      saturationVus: 64,
      learners: 5_000,
    });
  });

  it("keeps --citus alone what it was: the scenarios on one cluster, not the scale bench", () => {
    expect(plan(["--citus"]).scale).toBeUndefined();
  });

  it("takes worker counts (sorted, each once), the per-node quota, VUs and learners", () => {
    const p = plan([
      "--citus",
      "--citus-workers",
      "4,1,2,2",
      "--node-cores",
      "0.5",
      "--saturation-vus",
      "200",
      "--learners",
      "1000",
    ]);
    expect(p.scale).toEqual({ workers: [1, 2, 4], nodeCores: 0.5 });
    expect(p).toMatchObject({ saturationVus: 200, learners: 1000 });
  });

  it("keeps --citus with --scenarios, or with DATABASE_URL at a coordinator, the scenarios on one cluster as before", () => {
    expect(plan(["--citus", "--scenarios", "saturation"]).scale).toBeUndefined();
    const atUrl = parseBenchArgs(["--citus"], { DATABASE_URL: "postgres://coordinator/db" });
    expect("plan" in atUrl && atUrl.plan.scale).toBeUndefined();
  });

  it.each([
    [["--citus-workers", "1,2"], /belong to the scale bench/],
    [["--citus", "--scenarios", "level-up", "--node-cores", "0.5"], /belong to the scale bench/],
    [["--citus", "--citus-workers", "0"], /--citus-workers: "0" is not a whole number from 1 to 16/],
    [["--citus", "--citus-workers", "two"], /--citus-workers/],
    [["--citus", "--node-cores", "0"], /--node-cores: "0" is not a number of cores from 0.01 to 64/],
    [["--citus", "--node-cores", "a quarter"], /--node-cores/],
    [["--citus", "--node-cores=-1"], /--node-cores/],
  ])("refuses %j with a usage error", (argv, message) => {
    expect(() => parseBenchArgs(argv)).toThrow(UsageError);
    expect(() => parseBenchArgs(argv)).toThrow(message);
  });

  it("refuses --citus-workers with DATABASE_URL: the scale bench starts its own clusters", () => {
    expect(() => parseBenchArgs(["--citus", "--citus-workers", "2"], { DATABASE_URL: "postgres://c/db" })).toThrow(
      /belong to the scale bench/,
    );
  });
});
