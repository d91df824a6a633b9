import type { BenchResults, RunResult } from "../results.ts";

/** One of the targets, checked against a run's figures. */
export interface TargetCheck {
  target: string;
  seed: string;
  measured: string;
  /** null when the plan did not measure it (e.g. a --quick run without 1000 users). */
  met: boolean | null;
}

const ms = (v: number) => `${v.toFixed(2)} ms`;

export function findRun(results: BenchResults, scenario: RunResult["scenario"], target: RunResult["target"], vus?: number): RunResult | undefined {
  return results.runs.find((r) => r.scenario === scenario && r.target === target && (vus === undefined || r.vus === vus) && !r.skipped);
}

/** The reference level of the before/after table: the smallest level (the seed's 23 ms is its 10-user figure). */
export function referenceLevel(results: BenchResults): number {
  return Math.min(...results.plan.levels);
}

export function evaluateTargets(results: BenchResults): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const at1000 = findRun(results, "level-up", "coupler", 1000)?.k6;
  checks.push({
    target: "level-up at 1000 concurrent users: avg ≤ 5 ms and P95 ≤ 25 ms",
    seed: "50 ms / 300 ms",
    measured: at1000 ? `avg ${ms(at1000.latency.avg)}, P95 ${ms(at1000.latency.p95)}` : "not measured (no 1000-user level in this run)",
    met: at1000 ? at1000.latency.avg <= 5 && at1000.latency.p95 <= 25 : null,
  });
  const ref = referenceLevel(results);
  const single = findRun(results, "level-up", "coupler", ref)?.k6;
  checks.push({
    target: `a single level-up through tRPC over HTTP: p50 ≤ 2 ms (measured at ${ref} users with think time)`,
    seed: "23 ms",
    measured: single ? `p50 ${ms(single.latency.p50)}` : "not measured",
    met: single ? single.latency.p50 <= 2 : null,
  });
  const legacy = findRun(results, "level-up", "legacy", ref)?.k6;
  const overhead = single && legacy && legacy.latency.avg > 0 ? single.latency.avg / legacy.latency.avg - 1 : undefined;
  checks.push({
    target: `coupler latency overhead over the legacy path ≤ 15% (level-up avg at ${ref} users)`,
    seed: "+53%",
    measured: overhead === undefined ? "not measured" : `${signedPercent(overhead)} (${ms(single?.latency.avg ?? 0)} vs ${ms(legacy?.latency.avg ?? 0)})`,
    met: overhead === undefined ? null : overhead <= 0.15,
  });
  const sat = findRun(results, "saturation", "coupler")?.k6;
  const raw = findRun(results, "ceiling", "raw-pg")?.ceiling;
  const ratio = sat && raw && raw.throughput > 0 ? sat.throughput / raw.throughput : undefined;
  checks.push({
    target: `saturation throughput ≥ 50% of the raw-pg ceiling at ${results.plan.saturationVus} concurrent clients`,
    seed: "not stated",
    measured: ratio === undefined ? "not measured" : `${(ratio * 100).toFixed(0)}% (${sat?.throughput.toFixed(0)}/s vs ${raw?.throughput.toFixed(0)}/s)`,
    met: ratio === undefined ? null : ratio >= 0.5,
  });
  const coupler = results.runs.filter((r) => r.target === "coupler" && r.k6);
  const errors = coupler.reduce((n, r) => n + (r.k6?.failed ?? 0), 0);
  const desyncs = coupler.reduce((n, r) => Math.max(n, r.integrity?.desynced ?? 0), 0);
  checks.push({
    target: "zero errors and zero desyncs after every coupler run",
    seed: "not stated",
    measured: coupler.length === 0 ? "not measured" : `${errors} failed request(s) over ${coupler.length} runs; most desynced pairs after a run: ${desyncs}`,
    met: coupler.length === 0 ? null : errors === 0 && desyncs === 0,
  });
  return checks;
}

export function signedPercent(ratio: number): string {
  return `${ratio >= 0 ? "+" : ""}${(ratio * 100).toFixed(0)}%`;
}
