import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { signToken } from "@coupler/api";
import {
  ProgressLicenseCoupler,
  createDatabase,
  createLogger,
  createUser,
  distributeOnCitus,
  migrate,
  repairDesyncs,
  runIntegrityAudit,
  setGuard,
  type Database,
} from "@coupler/core";
import { adminQuery, startEmbeddedPostgres, withDatabase, type RunningPostgres } from "@coupler/embedded";
import { startMinimalServerProcess } from "./baseline/startMinimalServerProcess.ts";
import type { CpuSources } from "./cpu/cpuWindow.ts";
import { clockTicksPerSecond, findPostmaster } from "./cpu/processCpu.ts";
import { citusNodes, startBenchCluster } from "./citusBench.ts";
import type { BenchEnv } from "./env.ts";
import { k6Version, runK6 } from "./k6.ts";
import { machineInfo } from "./machineInfo.ts";
import { hotSpotVariant, ownsApi, type BenchPlan, type PlannedRun } from "./plan.ts";
import type { Progress } from "./progress.ts";
import type { BenchResults, IntegrityCounts, MachineInfo } from "./results.ts";
import { seedLearners, type LearnerRange } from "./seedLearners.ts";
import { startApiProcesses, type ApiProcesses } from "./startApiProcesses.ts";

const K6_DIR = fileURLToPath(new URL("../k6/", import.meta.url));
export const LOCK_TIMEOUT_MS = 2000;
export const WARM_UP_SECONDS = 3;

const SCRIPTS = {
  "level-up": "level-up.js",
  sync: "sync.js",
  validate: "validate.js",
  "hot-spot": "hot-spot.js",
  saturation: "saturation.js",
  // One VU, no think time: the latency of a single call with nothing else in flight.
  single: "saturation.js",
  "level-up-rate": "level-up-rate.js",
  "validate-rate": "validate-rate.js",
} as const;

/** What the bench was given: k6, pgbench, the results folder and the CLI's environment. */
export interface BenchTools {
  k6: string;
  pgbench: string | undefined;
  outDir: string;
  /** The CLI's parsed environment, and its whole environment for the processes it starts. */
  env: BenchEnv;
  inherited: Record<string, string | undefined>;
  /**
   * Aborted on Ctrl-C or SIGTERM: no further run starts, and everything the
   * bench started (API processes, clusters, cgroups) is torn down before it
   * exits, rather than left running.
   */
  signal?: AbortSignal | undefined;
}

/**
 * Everything the runs share, set up once: the database (embedded, Citus or
 * DATABASE_URL) migrated and seeded, tokens, the API processes, the minimal
 * server when a run needs it, and where CPU is read. `close` tears it down
 * in reverse order; every helper a run needs lives here so `runOne` stays a
 * function of one planned run.
 */
export interface BenchEnvironment {
  plan: BenchPlan;
  tools: BenchTools;
  progress: Progress;
  databaseUrl: string;
  database: Database;
  learners: Record<"coupler" | "legacy", LearnerRange>;
  api: ApiProcesses;
  apiOptions: Parameters<typeof startApiProcesses>[1];
  baseline: { url: string; pid: number } | undefined;
  ticksPerSecond: number;
  /** PostgreSQL's CPU source: the postmaster's tree, every Citus node's, or none when not on this machine. */
  postgresCpu: CpuSources;
  machine: MachineInfo;
  setup: BenchResults["setup"];
  /** The integrity audit after a run; `repair` syncs desynced pairs (a legacy run's) so the next run starts clean. */
  audit(repair: boolean): Promise<IntegrityCounts>;
  /** The scenario's k6 settings (`__ENV`): tokens, URLs, load shape, learners. */
  k6Env(options: K6EnvOptions): Record<string, string>;
  /** A variant's own API (started and warmed up): a hot-spot variant's, or the before build's; undefined for a run on the shared one. */
  variantApi(run: PlannedRun): Promise<{ own: ApiProcesses | undefined; hotLearners: number } | undefined>;
  /** Warms a path up (JIT, pools, caches) with a short saturation run that is not counted. */
  warmUp(target: "coupler" | "legacy"): Promise<void>;
  close(): Promise<void>;
}

export interface K6EnvOptions {
  target: "coupler" | "legacy" | "baseline";
  vus: number;
  hot: boolean;
  rampUp: number;
  steady: number;
  scenario?: PlannedRun["scenario"];
  /** A hot-spot variant's own API and learner count. */
  own?: { urls: string[]; hotLearners: number } | undefined;
}

/** The API against the minimal server (fixed rate, one call at a time) is one process each: compared per process. */
export function oneProcess(scenario: PlannedRun["scenario"]): boolean {
  return scenario === "level-up-rate" || scenario === "validate-rate" || scenario === "single";
}

export function scriptFor(scenario: PlannedRun["scenario"]): string {
  if (scenario === "ceiling") throw new Error("the ceiling runs without k6");
  return join(K6_DIR, SCRIPTS[scenario]);
}

/** Starts the environment; on a failure part-way, tears down what it started and rethrows. */
export async function startBenchEnvironment(
  plan: BenchPlan,
  tools: BenchTools,
  progress: Progress,
  needsBaseline: boolean,
): Promise<BenchEnvironment> {
  const { env, inherited } = tools;
  const cleanup: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  };
  try {
    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl && plan.citus) {
      progress.info("starting a Citus coordinator and 2 workers (fsync on)");
      const cluster = await startBenchCluster();
      cleanup.push(() => cluster.stop());
      databaseUrl = cluster.url;
    } else if (!databaseUrl) {
      progress.info(`starting embedded PostgreSQL${plan.fastDb ? " (fsync off)" : ""}`);
      const server: RunningPostgres = await startEmbeddedPostgres({
        fast: plan.fastDb,
        settings: { shared_buffers: "256MB" },
      });
      cleanup.push(() => server.stop());
      await adminQuery(server.url, "CREATE DATABASE coupler_bench");
      databaseUrl = withDatabase(server.url, "coupler_bench");
    }
    await migrate(databaseUrl);
    if (plan.citus) await distributeOnCitus(databaseUrl);
    const database = createDatabase({ connectionString: databaseUrl, max: 4, applicationName: "coupler-bench" });
    cleanup.push(() => database.close());
    // Enrolling and repairs between runs are the bench's own bookkeeping: only failures belong in its output.
    const coupler = new ProgressLicenseCoupler({
      pool: database.pool,
      db: database.db,
      logger: createLogger("bench", "warn"),
    });

    progress.info(`seeding ${plan.learners} learners for each path`);
    const learners: Record<"coupler" | "legacy", LearnerRange> = {
      coupler: await seedLearners(database.pool, plan.learners, "coupler"),
      legacy: await seedLearners(database.pool, plan.learners, "legacy"),
    };
    const authSecret = randomBytes(32).toString("hex");
    const instructor = await createUser(database.pool, {
      name: "Bench instructor",
      email: `instructor-${Date.now()}@bench.test`,
    });
    const admin = await createUser(database.pool, { name: "Bench admin", email: `admin-${Date.now()}@bench.test` });
    const tokens = {
      INSTRUCTOR_TOKEN: await signToken({ sub: instructor.id, role: "instructor" }, authSecret, { expiresIn: "12h" }),
      ADMIN_TOKEN: await signToken({ sub: admin.id, role: "admin" }, authSecret, { expiresIn: "12h" }),
    };

    const serverNode = {
      binary: plan.node ?? process.execPath,
      version: await nodeVersion(plan.node ?? process.execPath),
    };
    progress.info(`starting ${plan.apiProcesses} API process(es) in bench mode (Node ${serverNode.version})`);
    const apiOptions = {
      databaseUrl,
      authSecret,
      poolSize: plan.poolSize,
      lockTimeoutMs: LOCK_TIMEOUT_MS,
      baseEnv: inherited,
      node: plan.node,
    };
    const api = await startApiProcesses(plan.apiProcesses, apiOptions);
    cleanup.push(() => api.stop());
    let baseline: { url: string; pid: number } | undefined;
    if (needsBaseline) {
      progress.info("starting the minimal baseline server");
      const server = await startMinimalServerProcess({
        node: serverNode.binary,
        databaseUrl,
        poolSize: plan.poolSize,
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        baseEnv: inherited,
      });
      cleanup.push(() => server.stop());
      baseline = server;
    }
    const ticksPerSecond = await clockTicksPerSecond();
    const postmaster = await findPostmaster((text) => database.pool.query<{ pid: number }>(text)).catch(
      () => undefined,
    );
    // On Citus "postgres" is every node: the coordinator's postmaster tree plus each worker's.
    const citus = plan.citus ? await citusNodes(databaseUrl) : undefined;
    const postgresCpu: CpuSources = citus
      ? citus.postmasterPids.length === citus.workers.length + 1
        ? { postgres: { trees: citus.postmasterPids } }
        : {}
      : postmaster === undefined
        ? {}
        : { postgres: { tree: postmaster } };
    const machine = await machineInfo(database.pool, await k6Version(tools.k6, env), tools.pgbench);

    const audit = async (repair: boolean): Promise<IntegrityCounts> => {
      const report = await runIntegrityAudit(database.pool, { sampleLimit: 1 });
      let repaired = 0;
      if (repair && report.desynced.count + report.missingLicense.count + report.missingProgress.count > 0) {
        repaired = (await repairDesyncs(coupler, database.pool, "progress", { actor: "bench-repair" })).filter(
          (r) => r.changed,
        ).length;
      }
      return {
        desynced: report.desynced.count,
        orphans: report.orphans.count,
        missingHalves: report.missingLicense.count + report.missingProgress.count,
        historyGaps: report.historyGaps.count,
        repaired,
      };
    };

    const apiUrls = (scenario: PlannedRun["scenario"]) => (oneProcess(scenario) ? api.urls.slice(0, 1) : api.urls);
    const k6Env = ({ target, vus, hot, rampUp, steady, scenario = "level-up", own }: K6EnvOptions) => {
      const think = hot ? plan.hotSpot.thinkMs : plan.thinkMs;
      const xp = hot ? plan.hotSpot.xp : plan.xp;
      const seeded = learners[target === "legacy" ? "legacy" : "coupler"];
      return {
        ...tokens,
        BASE_URLS: target === "baseline" && baseline ? baseline.url : (own?.urls ?? apiUrls(scenario)).join(","),
        TARGET: target,
        VUS: String(vus),
        RAMP_UP_SECONDS: String(rampUp),
        STEADY_SECONDS: String(steady),
        LEARNER_FIRST: String(seeded.first),
        LEARNER_COUNT: String(seeded.count),
        RATE: String(plan.rate),
        DURATION: String(steady),
        PRE_ALLOCATED_VUS: String(Math.max(10, Math.ceil(plan.rate / 10))),
        HOT_LEARNERS: String(own?.hotLearners ?? plan.hotSpot.learners),
        THINK_MIN_MS: String(think.min),
        THINK_MAX_MS: String(think.max),
        XP_MIN: String(xp.min),
        XP_MAX: String(xp.max),
        SPECIALIZATION: "PLAYER",
      };
    };
    const warmUpRun = (name: string, scenario: Record<string, string>) => {
      const file = (ext: string) => join(tools.outDir, "k6", `warm-up-${name}.${ext}`);
      return progress
        .run(
          `warm-up ${name} (not counted)`,
          WARM_UP_SECONDS,
          runK6(tools.k6, scriptFor("saturation"), env, scenario, file("json"), file("log")),
        )
        .then(
          () => undefined,
          (error: unknown) => progress.info(`    warm-up ${name} failed: ${String(error)}`),
        );
    };

    return {
      plan,
      tools,
      progress,
      databaseUrl,
      database,
      learners,
      api,
      apiOptions,
      baseline,
      ticksPerSecond,
      postgresCpu,
      machine,
      setup: {
        apiProcesses: plan.apiProcesses,
        poolSize: plan.poolSize,
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        fsync: env.DATABASE_URL || plan.citus ? true : !plan.fastDb,
        database: plan.citus ? "citus" : env.DATABASE_URL ? "DATABASE_URL" : "embedded",
        ...(citus ? { citus } : {}),
        serverNode,
        clockTicksPerSecond: ticksPerSecond,
        postmasterPid: postmaster ?? null,
        rounds: plan.rounds,
        maxOutsideShare: plan.maxOutsideShare,
        disturbedRetries: plan.disturbedRetries,
      },
      audit,
      k6Env,
      async warmUp(target) {
        await setGuard(database.pool, target === "coupler", "bench");
        await warmUpRun(target, k6Env({ target, vus: 10, hot: false, rampUp: 0, steady: WARM_UP_SECONDS }));
        await audit(target === "legacy");
      },
      async variantApi(run) {
        if (!run.variant) return undefined;
        const variant = hotSpotVariant(plan, run.variant);
        if (!ownsApi(plan, run)) return { own: undefined, hotLearners: variant.learners };
        const own = await startApiProcesses(1, {
          ...apiOptions,
          extraEnv: variant.apiEnv,
          entry: variant.before ? plan.beforeApi : undefined,
        });
        const urls = { urls: own.urls, hotLearners: variant.learners };
        const scenario = k6Env({
          target: "coupler",
          vus: 10,
          hot: false,
          rampUp: 0,
          steady: WARM_UP_SECONDS,
          scenario: "saturation",
          own: urls,
        });
        await warmUpRun(run.id, scenario);
        return { own, hotLearners: variant.learners };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function nodeVersion(node: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(node, ["--version"], (error, stdout) =>
      error ? reject(new Error(`${node} --version failed: ${error.message}`)) : resolve(stdout.trim()),
    ),
  );
}
