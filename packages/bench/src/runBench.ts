/**
 * Over 400 lines on purpose, for now: `runBench` is one orchestration whose
 * steps (database, seeding, API processes, each planned run, the ceiling)
 * share the resources one try/finally must tear down in order; splitting it
 * by step would spread that cleanup over files. The pieces that stand alone
 * already live beside it (plan.ts, results.ts, k6.ts, cpu/, citusBench.ts).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
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
} from "@coupler/core";
import { adminQuery, startEmbeddedPostgres, withDatabase, type RunningPostgres } from "@coupler/embedded";
import { startMinimalServerProcess } from "./baseline/startMinimalServerProcess.ts";
import { runPgbench, runRawPgCeiling } from "./ceiling/runCeiling.ts";
import { cpuSnapshot, cpuUsage, type CpuSnapshot } from "./cpu/cpuUsage.ts";
import { cpuWindow, type CpuSources } from "./cpu/cpuWindow.ts";
import { clockTicksPerSecond, findPostmaster } from "./cpu/processCpu.ts";
import { citusNodes, startBenchCluster } from "./citusBench.ts";
import type { BenchEnv } from "./env.ts";
import { k6Version, runK6 } from "./k6.ts";
import { operationResult } from "./k6Summary.ts";
import { lockStats } from "./lockStats.ts";
import { machineInfo } from "./machineInfo.ts";
import { estimateSeconds, hotSpotVariant, plannedRuns, type BenchPlan, type PlannedRun } from "./plan.ts";
import { Progress } from "./progress.ts";
import { scrapeMetrics } from "./prometheus.ts";
import type { BenchResults, IntegrityCounts, RunResult } from "./results.ts";
import { sampleLockWaits } from "./sampleLockWaits.ts";
import { seedLearners, type LearnerRange } from "./seedLearners.ts";
import { startApiProcesses, type ApiProcesses } from "./startApiProcesses.ts";

const K6_DIR = fileURLToPath(new URL("../k6/", import.meta.url));
const LOCK_TIMEOUT_MS = 2000;
const WARM_UP_SECONDS = 3;

const SCRIPTS = {
  "level-up": "level-up.js",
  sync: "sync.js",
  validate: "validate.js",
  "hot-spot": "hot-spot.js",
  saturation: "saturation.js",
  // One VU, no think time: the latency of a single call with nothing else in flight.
  single: "saturation.js",
  "level-up-rate": "level-up-rate.js",
} as const;

/**
 * Runs the whole plan: database, migrations, learners, API processes, every
 * k6 run against the coupler and the legacy path with /metrics scraped and the
 * integrity audited around it, and the raw-pg and pgbench ceilings.
 */
export async function runBench(
  plan: BenchPlan,
  tools: {
    k6: string;
    pgbench: string | undefined;
    outDir: string;
    /** The CLI's parsed environment, and its whole environment for the processes it starts. */
    env: BenchEnv;
    inherited: Record<string, string | undefined>;
  },
): Promise<BenchResults> {
  const startedAt = new Date();
  const runs = plannedRuns(plan);
  const targets = [
    ...new Set(runs.flatMap((r) => (r.target === "coupler" || r.target === "legacy" ? [r.target] : []))),
  ];
  const progress = new Progress(runs.length + targets.length, estimateSeconds(plan));
  await mkdir(join(tools.outDir, "k6"), { recursive: true });
  const { env, inherited } = tools;
  const cleanup: (() => Promise<unknown>)[] = [];
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
    if (runs.some((r) => r.target === "baseline")) {
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
      // A legacy run leaves desyncs; repair them so the next run, and the guard, start clean.
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

    // The API against the minimal server (fixed rate, one call at a time): one process each, so the
    // comparison is per process; the other API processes idle (and are not counted) meanwhile.
    const oneProcess = (scenario: PlannedRun["scenario"]) => scenario === "level-up-rate" || scenario === "single";
    const apiUrls = (scenario: PlannedRun["scenario"]) => (oneProcess(scenario) ? api.urls.slice(0, 1) : api.urls);
    const k6Env = (
      target: "coupler" | "legacy" | "baseline",
      vus: number,
      hot: boolean,
      rampUp: number,
      steady: number,
      scenario: PlannedRun["scenario"] = "level-up",
      /** A hot-spot variant's own API and learner count. */
      own?: { urls: string[]; hotLearners: number },
    ) => {
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

    // Warm both paths up (JIT, pool connections, caches) so the first measured run is not the cold one.
    for (const target of targets) {
      await setGuard(database.pool, target === "coupler", "bench");
      const file = (ext: string) => join(tools.outDir, "k6", `warm-up-${target}.${ext}`);
      await progress
        .run(
          `warm-up ${target} (not counted)`,
          WARM_UP_SECONDS,
          runK6(
            tools.k6,
            scriptFor("saturation"),
            env,
            k6Env(target, 10, false, 0, WARM_UP_SECONDS),
            file("json"),
            file("log"),
          ),
        )
        .catch((error: unknown) => progress.info(`    warm-up ${target} failed: ${String(error)}`));
      await audit(target === "legacy");
    }

    /**
     * A hot-spot variant that needs an API of its own (other settings, or the
     * "before" build): one process, started and warmed up for this run only.
     */
    const variantApi = async (
      run: PlannedRun,
    ): Promise<{ own: ApiProcesses | undefined; hotLearners: number } | undefined> => {
      if (!run.variant) return undefined;
      const variant = hotSpotVariant(plan, run.variant);
      if (Object.keys(variant.apiEnv).length === 0 && !variant.before)
        return { own: undefined, hotLearners: variant.learners };
      const own = await startApiProcesses(1, {
        ...apiOptions,
        extraEnv: variant.apiEnv,
        entry: variant.before ? plan.beforeApi : undefined,
      });
      const file = (ext: string) => join(tools.outDir, "k6", `warm-up-${run.id}.${ext}`);
      const warmUp = k6Env("coupler", 10, false, 0, WARM_UP_SECONDS, "saturation", {
        urls: own.urls,
        hotLearners: variant.learners,
      });
      await progress
        .run(
          `warm-up ${run.id} (not counted)`,
          WARM_UP_SECONDS,
          runK6(tools.k6, scriptFor("saturation"), env, warmUp, file("json"), file("log")),
        )
        .catch((error: unknown) => progress.info(`    warm-up ${run.id} failed: ${String(error)}`));
      return { own, hotLearners: variant.learners };
    };

    const results: RunResult[] = [];
    for (const run of runs) {
      const operation = run.scenario === "sync" ? "sync" : run.scenario === "validate" ? "validate" : "levelUp";
      const result: RunResult = { ...run, operation };
      const label = `${run.scenario} ${run.target} ${run.vus} VUs${run.variant ? ` (${run.variant})` : ""}`;
      const variants: ApiProcesses[] = [];
      try {
        if (run.target === "raw-pg" || run.target === "pgbench") {
          const options = {
            databaseUrl,
            concurrency: run.vus,
            durationSeconds: plan.durationSeconds,
            learners: learners.coupler,
            lockTimeoutMs: LOCK_TIMEOUT_MS,
            xp: plan.xp,
            env: inherited,
          };
          if (run.target === "raw-pg") {
            let start: Promise<CpuSnapshot> | undefined;
            let end: Promise<CpuSnapshot> | undefined;
            result.ceiling = await progress.run(
              label,
              plan.durationSeconds + 2,
              runRawPgCeiling(options, (phase, pid) => {
                const snapshot = cpuSnapshot({ server: { pids: [pid] }, ...postgresCpu });
                if (phase === "measuring") start = snapshot;
                else end = snapshot;
              }),
            );
            if (start && end)
              result.cpu = cpuUsage(
                await start,
                await end,
                result.ceiling.latency.count + result.ceiling.errors,
                ticksPerSecond,
              );
          } else if (tools.pgbench) {
            const workDir = join(tools.outDir, "pgbench");
            await mkdir(workDir, { recursive: true });
            const sources: CpuSources = { loadGenerator: { reapedChildren: true }, ...postgresCpu };
            const start = await cpuSnapshot(sources);
            result.ceiling = await progress.run(
              label,
              plan.durationSeconds,
              runPgbench(tools.pgbench, { ...options, workDir }),
            );
            result.cpu = cpuUsage(
              start,
              await cpuSnapshot(sources),
              result.ceiling.latency.count + result.ceiling.errors,
              ticksPerSecond,
            );
          } else {
            result.skipped = "pgbench not found (PGBENCH_BIN or PATH)";
            progress.info(`skipping ${label}: ${result.skipped}`);
          }
          result.integrity = await audit(false);
        } else {
          // The guard is on for coupler runs (as deployed) and must be off for the legacy path.
          await setGuard(database.pool, run.target !== "legacy", "bench");
          const variant = await variantApi(run);
          if (variant?.own) variants.push(variant.own);
          const ownApi = variant?.own;
          const scenarioEnv = k6Env(
            run.target,
            run.vus,
            run.scenario === "hot-spot",
            plan.rampUpSeconds,
            plan.durationSeconds,
            run.scenario,
            variant && {
              urls: ownApi?.urls ?? api.urls,
              hotLearners: variant.hotLearners,
            },
          );
          const runUrls = ownApi?.urls ?? api.urls;
          const before = await scrapeMetrics(runUrls);
          const sampler = sampleLockWaits(database.pool);
          const serverPids =
            run.target === "baseline" && baseline
              ? [baseline.pid]
              : oneProcess(run.scenario)
                ? api.pids.slice(0, 1)
                : api.pids;
          // An API of its own is counted as a process tree: with API_WORKERS=2 its workers are its children.
          const server = ownApi?.pids[0] !== undefined ? { tree: ownApi.pids[0] } : { pids: serverPids };
          let window: ReturnType<typeof cpuWindow> | undefined;
          const k6 = await progress.run(
            label,
            plan.rampUpSeconds + plan.durationSeconds,
            runK6(
              tools.k6,
              scriptFor(run.scenario),
              env,
              scenarioEnv,
              join(tools.outDir, "k6", `${run.id}.json`),
              join(tools.outDir, "k6", `${run.id}.log`),
              (pid) => {
                // From 1 s into the steady phase to its end (k6's own start-up only shifts the window later).
                window = cpuWindow(
                  (plan.rampUpSeconds + 1) * 1000,
                  (plan.rampUpSeconds + plan.durationSeconds) * 1000,
                  {
                    loadGenerator: { pids: [pid] },
                    server,
                    ...postgresCpu,
                  },
                );
              },
            ),
          );
          result.pgLockWaits = await sampler.stop();
          const after = await scrapeMetrics(runUrls);
          result.k6 = { ...operationResult(k6.summary, operation, plan.durationSeconds), exitCode: k6.exitCode };
          const measured = await window;
          if (measured) {
            const wallSeconds = (measured.end.atMs - measured.start.atMs) / 1000;
            result.cpu = cpuUsage(
              measured.start,
              measured.end,
              Math.round(result.k6.throughput * wallSeconds),
              ticksPerSecond,
            );
          }
          if (run.scenario === "level-up-rate")
            result.droppedIterations = k6.summary.metrics["dropped_iterations"]?.values["count"] ?? 0;
          if (run.target === "coupler" && operation !== "validate") result.lock = lockStats(before, after, operation);
          result.integrity = await audit(run.target === "legacy");
        }
        progress.info(`    ${describe(result)}`);
      } catch (error) {
        result.skipped = error instanceof Error ? error.message : String(error);
        progress.info(`    ${label} failed: ${result.skipped}`);
      } finally {
        for (const own of variants.splice(0)) await own.stop().catch(() => {});
      }
      results.push(result);
    }
    await setGuard(database.pool, true, "bench").catch(() => {});
    const finishedAt = new Date();
    return {
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      elapsedSeconds: Math.round(progress.elapsedSeconds()),
      plan,
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
      },
      runs: results,
    };
  } finally {
    for (const step of cleanup.reverse()) await step().catch(() => {});
  }
}

function scriptFor(scenario: PlannedRun["scenario"]): string {
  if (scenario === "ceiling") throw new Error("the ceiling runs without k6");
  return join(K6_DIR, SCRIPTS[scenario]);
}

async function nodeVersion(node: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(node, ["--version"], (error, stdout) =>
      error ? reject(new Error(`${node} --version failed: ${error.message}`)) : resolve(stdout.trim()),
    ),
  );
}

function describe(run: RunResult): string {
  const l = run.k6?.latency ?? run.ceiling?.latency;
  if (!l) return "no figures";
  const tput = run.k6?.throughput ?? run.ceiling?.throughput ?? 0;
  const errors = run.k6?.failed ?? run.ceiling?.errors ?? 0;
  const desync = run.integrity ? `, desynced ${run.integrity.desynced}` : "";
  const c = run.cpu?.perCallMs;
  const cpu = c
    ? `; CPU/call ms: server ${c.server?.toFixed(2) ?? "—"}, pg ${c.postgres?.toFixed(2) ?? "—"}, load ${c.loadGenerator?.toFixed(2) ?? "—"}, cores busy ${run.cpu?.coresBusy?.toFixed(2) ?? "—"}`
    : "";
  return `avg ${l.avg.toFixed(2)} ms, p95 ${l.p95.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms, ${tput.toFixed(0)}/s, errors ${errors}${desync}${cpu}`;
}

export type { PlannedRun };
