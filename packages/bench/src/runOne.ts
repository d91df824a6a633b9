import { mkdir } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { setGuard } from "@coupler/core";
import { runPgbench, runRawPgCeiling } from "./ceiling/runCeiling.ts";
import { cpuSnapshot, cpuUsage, type CpuSnapshot } from "./cpu/cpuUsage.ts";
import { cpuWindow, type CpuSources } from "./cpu/cpuWindow.ts";
import { measureDisturbance } from "./cpu/disturbance.ts";
import { oneProcess, scriptFor, type BenchEnvironment } from "./benchEnvironment.ts";
import { runK6 } from "./k6.ts";
import { operationResult } from "./k6Summary.ts";
import { lockStats } from "./lockStats.ts";
import type { PlannedRun } from "./plan.ts";
import { scrapeMetrics } from "./prometheus.ts";
import type { RunResult } from "./results.ts";
import { sampleLockWaits } from "./sampleLockWaits.ts";
import type { ApiProcesses } from "./startApiProcesses.ts";

/** The attempt of a run: round and attempt number name its k6 files, so a retried run keeps both. */
export interface Attempt {
  round: number;
  attempt: number;
}

/**
 * Makes one planned run in `environment`: a k6 scenario against the
 * coupler, the legacy path or the minimal server (with /metrics scraped,
 * lock waits sampled and the integrity audited after), or a ceiling
 * (raw-pg, pgbench). CPU per part and the CPU outside the run are read over
 * the same window. A run that fails gives a result with `skipped` saying why;
 * it never throws.
 */
export async function runOne(environment: BenchEnvironment, run: PlannedRun, attempt: Attempt): Promise<RunResult> {
  const { plan, tools, progress, api, baseline, postgresCpu, ticksPerSecond } = environment;
  const operation = run.scenario === "sync" ? "sync" : run.scenario.startsWith("validate") ? "validate" : "levelUp";
  const result: RunResult = { ...run, operation, round: attempt.round };
  const label =
    `${run.scenario} ${run.target} ${run.vus} VUs${run.variant ? ` (${run.variant})` : ""}` +
    `${plan.rounds > 1 ? `, round ${attempt.round}` : ""}${attempt.attempt > 1 ? `, attempt ${attempt.attempt}` : ""}`;
  const fileBase = `${run.id}${attempt.round > 1 ? `-round-${attempt.round}` : ""}${attempt.attempt > 1 ? `-attempt-${attempt.attempt}` : ""}`;
  const variants: ApiProcesses[] = [];
  /** The window's two snapshots and the parts read: CPU per call and the disturbance come from the same readings. */
  const measure = (start: CpuSnapshot, end: CpuSnapshot, sources: CpuSources, calls: number) => {
    result.cpu = cpuUsage(start, end, calls, ticksPerSecond);
    result.disturbance =
      measureDisturbance(start, end, {
        ticksPerSecond,
        cores: cpus().length,
        parts: Object.keys(sources) as (keyof CpuSources)[],
      }) ?? null;
  };
  try {
    if (run.target === "raw-pg" || run.target === "pgbench") {
      const options = {
        databaseUrl: environment.databaseUrl,
        concurrency: run.vus,
        durationSeconds: plan.durationSeconds,
        learners: environment.learners.coupler,
        lockTimeoutMs: environment.apiOptions.lockTimeoutMs,
        xp: plan.xp,
        env: tools.inherited,
      };
      if (run.target === "raw-pg") {
        let start: Promise<CpuSnapshot> | undefined;
        let end: Promise<CpuSnapshot> | undefined;
        let sources: CpuSources = {};
        result.ceiling = await progress.run(
          label,
          plan.durationSeconds + 2,
          runRawPgCeiling(options, (phase, pid) => {
            sources = { server: { pids: [pid] }, ...postgresCpu };
            const snapshot = cpuSnapshot(sources);
            if (phase === "measuring") start = snapshot;
            else end = snapshot;
          }),
        );
        if (start && end)
          measure(await start, await end, sources, result.ceiling.latency.count + result.ceiling.errors);
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
        measure(start, await cpuSnapshot(sources), sources, result.ceiling.latency.count + result.ceiling.errors);
      } else {
        result.skipped = "pgbench not found (PGBENCH_BIN or PATH)";
        progress.info(`skipping ${label}: ${result.skipped}`);
      }
      result.integrity = await environment.audit(false);
    } else {
      // The guard is on for coupler runs (as deployed) and must be off for the legacy path.
      await setGuard(environment.database.pool, run.target !== "legacy", "bench");
      const variant = await environment.variantApi(run);
      if (variant?.own) variants.push(variant.own);
      const ownApi = variant?.own;
      const scenarioEnv = environment.k6Env({
        target: run.target,
        vus: run.vus,
        hot: run.scenario === "hot-spot",
        rampUp: plan.rampUpSeconds,
        steady: plan.durationSeconds,
        scenario: run.scenario,
        own: variant && { urls: ownApi?.urls ?? api.urls, hotLearners: variant.hotLearners },
      });
      const runUrls = ownApi?.urls ?? api.urls;
      const before = await scrapeMetrics(runUrls);
      const sampler = sampleLockWaits(environment.database.pool);
      const serverPids =
        run.target === "baseline" && baseline
          ? [baseline.pid]
          : oneProcess(run.scenario)
            ? api.pids.slice(0, 1)
            : api.pids;
      // An API of its own is counted as a process tree: with API_WORKERS=2 its workers are its children.
      const server = ownApi?.pids[0] !== undefined ? { tree: ownApi.pids[0] } : { pids: serverPids };
      let window: ReturnType<typeof cpuWindow> | undefined;
      let sources: CpuSources = {};
      const k6 = await progress.run(
        label,
        plan.rampUpSeconds + plan.durationSeconds,
        runK6(
          tools.k6,
          scriptFor(run.scenario),
          tools.env,
          scenarioEnv,
          join(tools.outDir, "k6", `${fileBase}.json`),
          join(tools.outDir, "k6", `${fileBase}.log`),
          (pid) => {
            sources = { loadGenerator: { pids: [pid] }, server, ...postgresCpu };
            // From 1 s into the steady phase to its end (k6's own start-up only shifts the window later).
            window = cpuWindow(
              (plan.rampUpSeconds + 1) * 1000,
              (plan.rampUpSeconds + plan.durationSeconds) * 1000,
              sources,
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
        measure(measured.start, measured.end, sources, Math.round(result.k6.throughput * wallSeconds));
      }
      if (run.scenario.endsWith("-rate"))
        result.droppedIterations = k6.summary.metrics["dropped_iterations"]?.values["count"] ?? 0;
      if (run.target === "coupler" && operation !== "validate") result.lock = lockStats(before, after, operation);
      result.integrity = await environment.audit(run.target === "legacy");
    }
    progress.info(`    ${describe(result)}`);
  } catch (error) {
    result.skipped = error instanceof Error ? error.message : String(error);
    progress.info(`    ${label} failed: ${result.skipped}`);
  } finally {
    for (const own of variants.splice(0)) await own.stop().catch(() => {});
  }
  return result;
}

/** One progress line of a run's figures. */
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
  const outside = run.disturbance
    ? `; outside ${(run.disturbance.outsideShare * 100).toFixed(1)}% of the box`
    : run.disturbance === null
      ? "; outside CPU not measured"
      : "";
  return `avg ${l.avg.toFixed(2)} ms, p95 ${l.p95.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms, ${tput.toFixed(0)}/s, errors ${errors}${desync}${cpu}${outside}`;
}
