import type { BenchResults, RunResult } from "../results.ts";

/** One of the issue's targets, checked against a run's figures. */
export interface TargetCheck {
  target: string;
  seed: string;
  measured: string;
  /** null when the plan did not measure it (e.g. a --quick run without 1000 users). */
  met: boolean | null;
}

const ms = (v: number) => `${v.toFixed(2)} ms`;

export function findRun(
  results: BenchResults,
  scenario: RunResult["scenario"],
  target: RunResult["target"],
  vus?: number,
): RunResult | undefined {
  // The default run: a variant (another environment or build) is never the one a figure names.
  return results.runs.find(
    (r) =>
      r.scenario === scenario &&
      r.target === target &&
      (vus === undefined || r.vus === vus) &&
      !r.variant &&
      !r.skipped,
  );
}

/** The reference level of the before/after table: the smallest level (the seed's 23 ms is its 10-user figure). */
export function referenceLevel(results: BenchResults): number {
  return Math.min(...results.plan.levels);
}

/**
 * PostgreSQL's CPU per level-up through the API before the 4-round-trip
 * coupler: 0.50–0.66 ms in issue #9's four runs on this 2-core box at a
 * constant 300 level-ups/s (CPU of all backends from /proc). The upper end.
 */
export const PG_CPU_PER_CALL_BEFORE_MS = 0.66;

const ratioText = (a: number, b: number) => `${(a / b).toFixed(2)}×`;

/**
 * The run a target is judged on: as `findRun`, but never one whose every
 * round was disturbed (see `medianView`): such a target reads "not measured".
 */
function judgedRun(
  results: BenchResults,
  scenario: RunResult["scenario"],
  target: RunResult["target"],
  vus?: number,
): RunResult | undefined {
  const run = findRun(results, scenario, target, vus);
  return run?.disturbed ? undefined : run;
}

/** The targets, judged on `results` as given: pass `medianView(results)` to judge medians of undisturbed rounds. */
export function evaluateTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const rateApi = judgedRun(results, "level-up-rate", "coupler")?.cpu?.perCallMs;
  const rateMin = judgedRun(results, "level-up-rate", "baseline")?.cpu?.perCallMs;
  const apiCpu = rateApi?.server ?? undefined;
  const minCpu = rateMin?.server ?? undefined;
  checks.push({
    target: `API CPU per level-up ≤ 1.25× the minimal server's, same rate (${results.plan.rate}/s), same run`,
    seed: "2.0× (issue #9)",
    measured: apiCpu && minCpu ? `${ratioText(apiCpu, minCpu)} (${ms(apiCpu)} vs ${ms(minCpu)})` : "not measured",
    met: apiCpu && minCpu ? apiCpu <= 1.25 * minCpu : null,
  });
  const pgCpu = rateApi?.postgres ?? undefined;
  const pgbenchPg = judgedRun(results, "ceiling", "pgbench")?.cpu?.perCallMs.postgres ?? undefined;
  checks.push({
    target: `PostgreSQL CPU per level-up through the API no higher than before (≤ ${PG_CPU_PER_CALL_BEFORE_MS} ms at ${results.plan.rate}/s)`,
    seed: "0.50–0.66 ms (issue #9)",
    measured:
      pgCpu === undefined
        ? "not measured"
        : `${ms(pgCpu)}${pgbenchPg ? `; pgbench's run of the same transaction: ${ms(pgbenchPg)} (${ratioText(pgCpu, pgbenchPg)})` : ""}`,
    met: pgCpu === undefined ? null : pgCpu <= PG_CPU_PER_CALL_BEFORE_MS,
  });
  const at1000Run = judgedRun(results, "level-up", "coupler", 1000);
  const at1000 = at1000Run?.k6;
  const clean = at1000Run ? (at1000Run.k6?.failed ?? 0) === 0 && (at1000Run.integrity?.desynced ?? 0) === 0 : false;
  const measured1000 = at1000
    ? `avg ${ms(at1000.latency.avg)}, P95 ${ms(at1000.latency.p95)}, ${at1000.failed} errors, ${at1000Run?.integrity?.desynced ?? 0} desynced`
    : "not measured (no 1000-user level in this run)";
  checks.push({
    target: "level-up at 1000 users (think 0.5–1.5 s): avg ≤ 50 ms, P95 ≤ 300 ms, 0 errors, 0 desyncs",
    seed: "50 ms / 300 ms",
    measured: measured1000,
    met: at1000 ? at1000.latency.avg <= 50 && at1000.latency.p95 <= 300 && clean : null,
  });
  checks.push({
    target: "stretch: level-up at 1000 users avg ≤ 5 ms, P95 ≤ 25 ms",
    seed: "50 ms / 300 ms",
    measured: measured1000,
    met: at1000 ? at1000.latency.avg <= 5 && at1000.latency.p95 <= 25 && clean : null,
  });
  const single = judgedRun(results, "single", "coupler")?.k6;
  const singleMin = judgedRun(results, "single", "baseline")?.k6;
  checks.push({
    target: "a single level-up over HTTP (k6, 1 VU, no think time): p50 ≤ 1.5 ms",
    seed: "23 ms",
    measured: single
      ? `p50 ${ms(single.latency.p50)}${singleMin ? ` (minimal server ${ms(singleMin.latency.p50)})` : ""}`
      : "not measured",
    met: single ? single.latency.p50 <= 1.5 : null,
  });
  const sat = judgedRun(results, "saturation", "coupler")?.k6;
  const satMin = judgedRun(results, "saturation", "baseline")?.k6;
  const raw = judgedRun(results, "ceiling", "raw-pg")?.ceiling;
  const pgbench = judgedRun(results, "ceiling", "pgbench")?.ceiling;
  const others = [
    raw && `raw-pg ${(sat ? (sat.throughput / raw.throughput) * 100 : 0).toFixed(0)}%`,
    pgbench && `pgbench ${(sat ? (sat.throughput / pgbench.throughput) * 100 : 0).toFixed(0)}%`,
  ]
    .filter(Boolean)
    .join(", ");
  checks.push({
    target: `saturation throughput ≥ 85% of the minimal server's at ${results.plan.saturationVus} concurrent clients, same run`,
    seed: "not stated",
    measured:
      sat && satMin && satMin.throughput > 0
        ? `${((sat.throughput / satMin.throughput) * 100).toFixed(0)}% (${sat.throughput.toFixed(0)}/s vs ${satMin.throughput.toFixed(0)}/s)${others ? `; of ${others}` : ""}`
        : "not measured",
    met: sat && satMin && satMin.throughput > 0 ? sat.throughput >= 0.85 * satMin.throughput : null,
  });
  const ref = referenceLevel(results);
  const after = judgedRun(results, "level-up", "coupler", ref)?.k6;
  const legacy = judgedRun(results, "level-up", "legacy", ref)?.k6;
  const overhead = after && legacy && legacy.latency.avg > 0 ? after.latency.avg / legacy.latency.avg - 1 : undefined;
  checks.push({
    target: `coupler latency overhead over the legacy path ≤ 15% (level-up avg at ${ref} users)`,
    seed: "+53%",
    measured:
      overhead === undefined
        ? "not measured"
        : `${signedPercent(overhead)} (${ms(after?.latency.avg ?? 0)} vs ${ms(legacy?.latency.avg ?? 0)})`,
    met: overhead === undefined ? null : overhead <= 0.15,
  });
  const hot = results.runs.find(
    (r) => r.scenario === "hot-spot" && r.target === "coupler" && !r.variant && !r.skipped && !r.disturbed,
  );
  const spread = results.runs.find(
    (r) => r.scenario === "hot-spot" && r.variant === "spread" && !r.skipped && !r.disturbed,
  );
  const { vus, learners, spreadLearners } = results.plan.hotSpot;
  if (hot?.k6) {
    const share = spread?.k6 && spread.k6.throughput > 0 ? hot.k6.throughput / spread.k6.throughput : undefined;
    const pg = hot.cpu?.perCallMs.postgres ?? undefined;
    const desynced = hot.integrity?.desynced ?? 0;
    checks.push({
      target: `hot spot (${vus} VUs on ${learners} learners, combining on): throughput ≥ 90% of the same load over ${spreadLearners ?? "many"} learners, P95 ≤ 100 ms, P99 ≤ 250 ms, PostgreSQL CPU per call ≤ 0.6 ms, 0 errors, 0 desyncs`,
      seed: "50–69% of spread, P95 706 ms, P99 1,461 ms, 1.33 ms (issue #15)",
      measured:
        `${share === undefined ? "no spread run" : `${(share * 100).toFixed(0)}% (${hot.k6.throughput.toFixed(0)}/s vs ${spread?.k6?.throughput.toFixed(0)}/s)`}, ` +
        `P95 ${ms(hot.k6.latency.p95)}, P99 ${ms(hot.k6.latency.p99)}, PG CPU/call ${pg === undefined ? "—" : ms(pg)}, ${hot.k6.failed} errors, ${desynced} desynced`,
      met:
        share === undefined || pg === undefined
          ? null
          : share >= 0.9 &&
            hot.k6.latency.p95 <= 100 &&
            hot.k6.latency.p99 <= 250 &&
            pg <= 0.6 &&
            hot.k6.failed === 0 &&
            desynced === 0,
    });
  }
  const readCpu = judgedRun(results, "validate-rate", "coupler")?.cpu?.perCallMs.server ?? undefined;
  checks.push({
    target: `API CPU per read (validate) ≤ API CPU per level-up, same rate (${results.plan.rate}/s), same run`,
    seed: "1.26× (issue #25)",
    measured: readCpu && apiCpu ? `${ratioText(readCpu, apiCpu)} (${ms(readCpu)} vs ${ms(apiCpu)})` : "not measured",
    met: readCpu && apiCpu ? readCpu <= apiCpu : null,
  });
  const coupler = results.runs.filter((r) => r.target === "coupler" && r.k6);
  const errors = coupler.reduce((n, r) => n + (r.k6?.failed ?? 0), 0);
  const desyncs = coupler.reduce((n, r) => Math.max(n, r.integrity?.desynced ?? 0), 0);
  checks.push({
    target: "zero errors and zero desyncs after every coupler run",
    seed: "not stated",
    measured:
      coupler.length === 0
        ? "not measured"
        : `${errors} failed request(s) over ${coupler.length} runs; most desynced pairs after a run: ${desyncs}`,
    met: coupler.length === 0 ? null : errors === 0 && desyncs === 0,
  });
  return checks;
}

export function signedPercent(ratio: number): string {
  return `${ratio >= 0 ? "+" : ""}${(ratio * 100).toFixed(0)}%`;
}
