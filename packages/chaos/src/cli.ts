/**
 * `pnpm chaos`: a bounded Jepsen-style run. Starts a private embedded
 * PostgreSQL on 127.0.0.1 (or uses DATABASE_URL with --external, loopback
 * only), runs the coupler and the legacy path under the same seeded workload
 * and faults, prints a summary and writes the full result as JSON.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { findK6 } from "@coupler/bench/k6";
import { ConfigError, databaseConfig, orExit, parseConfig } from "@coupler/core/config";
import { NO_FAULTS } from "./faults.ts";
import { randomSeed } from "./random.ts";
import type { K6FaultResult } from "./k6Mode.ts";
import { DEFAULT_OPTIONS, type ChaosMode, type ChaosOptions } from "./chaosOptions.ts";
import type { ChaosResult } from "./chaosResult.ts";
import { runChaos } from "./runChaos.ts";
import { formatSummary } from "./formatSummary.ts";

const USAGE = `usage: pnpm chaos [options]

Runs the coupler and the legacy path under the same seeded workload and faults on a
private embedded PostgreSQL (127.0.0.1), checks every invariant, prints a summary and
writes the full result as JSON. Exits 1 if the coupler broke an invariant.

  --seed N            workload and fault seed, to replay a run (default: random, printed)
  --clients K         concurrent clients per mode (default ${DEFAULT_OPTIONS.clients}, 1..64)
  --ops N             operations per mode, at most (default ${DEFAULT_OPTIONS.ops})
  --duration SECONDS  seconds per mode, at most (default ${DEFAULT_OPTIONS.durationMs / 1000}); a mode stops at --ops or --duration
  --rounds R          rounds, each ending with a full check (default ${DEFAULT_OPTIONS.rounds})
  --learners N        learners the clients contend on (default ${DEFAULT_OPTIONS.learners})
  --no-legacy         skip the legacy two-transaction path (default: run it, to show what it loses)
  --no-restart        never restart PostgreSQL mid-run (default: restart it as one of the faults)
  --no-faults         no faults at all (a baseline run)
  --http              also run the workload through the API over HTTP (the built API; pnpm chaos builds it)
  --k6                then run the bench's k6 level-up scenario (20 s) against the API while its backends are killed
  --k6-bin PATH       the k6 binary for --k6 (default: K6_BIN, else k6 on PATH)
  --external          use DATABASE_URL (loopback only) instead of a private embedded PostgreSQL; implies --no-restart
  --citus             run on a Citus coordinator + 2 workers (CITUS_URL, or started here from the installed
                      PostgreSQL with the citus extension): tables distributed as db:migrate --citus does, half
                      the outside kills hit the workload's backends on the workers (never a shard move's own),
                      each round restarts one worker (--no-restart skips it), and 40% into each mode the shard
                      group of a learner on the higher worker (group id) moves to the lower one
                      (citus_move_shard_placement)
  --route ROUTE       with --citus: direct (default: each learner's calls on the worker holding its shard, in
                      process and in the API) or coordinator (every call through the coordinator)
  --no-move           with --citus: no mid-run shard move
  --shards N          with --citus: shards per distributed table (default Citus's citus.shard_count, 32); fewer
                      shard groups make --grow's rebalance and drain shorter
  --grow              with --citus: grow the cluster while each mode runs. Starts 2 workers and a spare node;
                      after 15% of --duration adds the spare (citus_add_node), runs citus_rebalance_start()
                      to completion, then drains worker1 (citus_drain_node) and removes it (citus_remove_node).
                      The last round runs on until that is done; worker restarts are off (the kills go on).
                      Adds the checks: every learner's co-located shards on one node, none on the removed one
  --out FILE          where the JSON result goes (default packages/chaos/results/chaos-<seed>.json)
  --summary FILE      also write the run's published summary there (relative to where pnpm was run), e.g.
                      docs/reliability/citus-grow.json; RELIABILITY.md renders those files
                      (pnpm --filter @coupler/chaos reliability:render)
  -h, --help          this text`;

const HELP_HINT = "(pnpm chaos --help for usage)";

// A bad flag is one line and exit code 2, like the other executables.
const { values } = orExit(() => {
  try {
    return parseFlags();
  } catch (error) {
    throw new ConfigError(`${error instanceof Error ? error.message : String(error)} ${HELP_HINT}`);
  }
}, "chaos");

function parseFlags() {
  return parseArgs({
    options: {
      seed: { type: "string" },
      clients: { type: "string" },
      ops: { type: "string" },
      duration: { type: "string" },
      rounds: { type: "string" },
      learners: { type: "string" },
      "no-legacy": { type: "boolean", default: false },
      "no-restart": { type: "boolean", default: false },
      "no-faults": { type: "boolean", default: false },
      http: { type: "boolean", default: false },
      k6: { type: "boolean", default: false },
      "k6-bin": { type: "string" },
      external: { type: "boolean", default: false },
      citus: { type: "boolean", default: false },
      grow: { type: "boolean", default: false },
      route: { type: "string" },
      "no-move": { type: "boolean", default: false },
      shards: { type: "string" },
      out: { type: "string" },
      summary: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function int(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(`chaos: --${name} must be an integer in ${min}..${max}, got ${raw} ${HELP_HINT}`);
    process.exit(2);
  }
  return n;
}

function loopbackUrl(url: string): string {
  const host = new URL(url).hostname;
  if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) {
    console.error(`refusing to run chaos against ${host}: loopback only`);
    process.exit(2);
  }
  return url;
}

// The commit a published summary measured, read before the run writes anything.
const measured = values.summary
  ? import("@coupler/bench/sourceInfo").then(({ sourceInfo }) => sourceInfo(dirname(fileURLToPath(import.meta.url))))
  : undefined;

const modes: ChaosMode[] = ["coupler"];
if (!values["no-legacy"]) modes.push("legacy");
if (values.http) modes.push("http");

const external = values.external
  ? orExit(() => parseConfig(databaseConfig, process.env), "chaos").DATABASE_URL
  : undefined;
if (values.external && !external) {
  console.error("--external needs DATABASE_URL");
  process.exit(2);
}

for (const flag of ["grow", "route", "no-move", "shards"] as const) {
  if (values[flag] !== undefined && values[flag] !== false && !values.citus) {
    console.error(`chaos: --${flag} needs --citus ${HELP_HINT}`);
    process.exit(2);
  }
}
const route = values.route ?? "direct";
if (route !== "direct" && route !== "coordinator") {
  console.error(`chaos: --route must be direct or coordinator, got ${route} ${HELP_HINT}`);
  process.exit(2);
}

let citusCluster: { stop(): Promise<void> } | undefined;
let citus: ChaosOptions["citus"];
if (values.citus) {
  // The test harness's cluster: CITUS_URL, or a coordinator and two workers from the installed PostgreSQL.
  const { citusAvailability, startCitusCluster } = await import("@coupler/testing");
  const availability = citusAvailability();
  if (!availability.available) {
    console.error(`chaos: --citus needs a Citus cluster: ${availability.reason}`);
    process.exit(2);
  }
  // Ctrl-C or a kill: exit normally, so the cluster's exit hook stops the servers it started.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => process.exit(130));
  if (values.grow && process.env.CITUS_URL) {
    console.error("chaos: --grow starts its own cluster with a spare node; unset CITUS_URL");
    process.exit(2);
  }
  const cluster = await startCitusCluster({ workers: 2, spares: values.grow ? 1 : 0 });
  citusCluster = cluster;
  citus = cluster;
  console.log(
    `Citus cluster (${cluster.source}): coordinator ${cluster.coordinator.host}:${cluster.coordinator.port}, workers ${cluster.workers.map((w) => `${w.host}:${w.port}`).join(", ")}${cluster.spares.length > 0 ? `, spare ${cluster.spares.map((w) => `${w.host}:${w.port}`).join(", ")}` : ""}`,
  );
}

const options: ChaosOptions = {
  ...DEFAULT_OPTIONS,
  seed: int("seed", values.seed, randomSeed(), 0, 2 ** 32 - 1),
  clients: int("clients", values.clients, DEFAULT_OPTIONS.clients, 1, 64),
  ops: int("ops", values.ops, DEFAULT_OPTIONS.ops, 1, 10_000_000),
  durationMs: int("duration", values.duration, DEFAULT_OPTIONS.durationMs / 1000, 1, 3600) * 1000,
  rounds: int("rounds", values.rounds, DEFAULT_OPTIONS.rounds, 1, 100),
  learners: int("learners", values.learners, DEFAULT_OPTIONS.learners, 1, 100),
  modes,
  faults: values["no-faults"] ? NO_FAULTS : DEFAULT_OPTIONS.faults,
  adminUrl: external ? loopbackUrl(external) : undefined,
  restart: !values["no-restart"] && !external && !values.grow,
  grow: values.grow,
  route,
  moveShard: !values["no-move"],
  ...(values.shards === undefined ? {} : { shards: int("shards", values.shards, 32, 2, 128) }),
  citus,
  log: (line) => console.log(line),
};

// As pnpm bench finds it: --k6-bin, else K6_BIN, else k6 on PATH; looked up before the run, so a missing k6 says so at once.
const k6Bin = values.k6
  ? (values["k6-bin"] ??
    findK6({ K6_BIN: process.env.K6_BIN, PATH: process.env.PATH ?? "", PATHEXT: process.env.PATHEXT }))
  : undefined;

if (values.http) {
  const { apiHttpTarget } = await import("./httpTarget.ts");
  options.http = apiHttpTarget();
}

const result: ChaosResult & { k6?: K6FaultResult } = await runChaos(options).finally(() => citusCluster?.stop());
console.log(formatSummary(result));
if (values.k6) {
  const { runK6WithFaults } = await import("./k6Mode.ts");
  result.k6 = await runK6WithFaults({
    k6: k6Bin ?? "k6",
    seed: result.seed,
    vus: int("clients", values.clients, DEFAULT_OPTIONS.clients, 1, 64),
    seconds: 20,
    learners: 20,
    killIntervalMs: [200, 600],
    log: (line) => console.log(line),
  });
  const k = result.k6;
  console.log(
    `[k6] ${k.requests} requests, ${k.backendsKilled} API backends killed; statuses ${JSON.stringify(k.statuses)}; ` +
      `failed coupler calls ${JSON.stringify(k.errorCodes)}; integrity violations ${k.integrity.violations}; ` +
      `${k.passed ? "PASS: only 200 and retryable 409/503" : `FAIL: ${k.unexpected.join(", ") || "audit not clean"}`}`,
  );
}
const out = resolve(values.out ?? `results/chaos-${result.seed}.json`);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`result written to ${out}`);
if (values.summary) {
  const { summarizeRun } = await import("./reliabilityRun.ts");
  const command = ["pnpm chaos", ...process.argv.slice(2).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a}'`))].join(
    " ",
  );
  const path = resolve(process.env.INIT_CWD ?? process.cwd(), values.summary);
  const summary = summarizeRun(result, command, (await measured) ?? { commit: null, dirty: null });
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`summary written to ${path}`);
}
console.log(`replay with: pnpm chaos --seed ${result.seed}`);
process.exit(result.couplerViolations === 0 && (result.k6?.passed ?? true) ? 0 : 1);
