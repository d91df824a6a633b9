/**
 * Rounds: a headline run is made several times, interleaved with the others,
 * and read as the median of its undisturbed rounds with their range. Generic
 * over what a run is: anything with an `id` is scheduled, anything shaped
 * like a `RunResult` is summarized.
 */
import { isHeadline, plannedRuns, type BenchPlan, type PlannedRun } from "./plan.ts";
import type { BenchResults, RunResult } from "./results.ts";

/** A figure of one round: its median over the rounds that count, and their range. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** The figures a round is judged and compared on (ms, calls/s); absent where the run has none. */
export const FIGURES = ["avg", "p50", "p95", "p99", "throughput", "serverCpuMs", "postgresCpuMs"] as const;
export type Figure = (typeof FIGURES)[number];

/** One planned run over all its rounds. */
export interface RoundSummary {
  id: string;
  rounds: number;
  /** Rounds whose outside CPU stayed under the threshold (or could not be measured: nothing said they were disturbed). */
  undisturbed: number;
  /** Every round was disturbed: the figures are over all of them, and no target is judged on them. */
  allDisturbed: boolean;
  /** Outside CPU share of each round, in round order; null where it could not be measured. */
  outsideShares: (number | null)[];
  figures: Partial<Record<Figure, Spread>>;
}

/**
 * The order of a plan's runs over `rounds` rounds: round 1 is every run in
 * plan order, each later round the runs `repeat` picks, in the same order.
 * Round-robin rather than back to back, so a slow drift of the machine
 * (another job starting, a cache warming) falls on every path alike.
 */
export function scheduleRounds<T extends { id: string }>(
  runs: readonly T[],
  rounds: number,
  repeat: (run: T) => boolean,
): (T & { round: number })[] {
  const schedule: (T & { round: number })[] = runs.map((run) => ({ ...run, round: 1 }));
  for (let round = 2; round <= rounds; round++) {
    for (const run of runs) if (repeat(run)) schedule.push({ ...run, round });
  }
  return schedule;
}

/** The middle value (the mean of the two middle ones for an even count). Throws on no values. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? 0) + upper) / 2;
}

export function spreadOf(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** A round's figures: latency and throughput from k6 or the ceiling, CPU per call of the server and PostgreSQL. */
export function figuresOf(run: RunResult): Partial<Record<Figure, number>> {
  const latency = run.k6?.latency ?? run.ceiling?.latency;
  const throughput = run.k6?.throughput ?? run.ceiling?.throughput;
  const figures: Partial<Record<Figure, number>> = {};
  if (latency) Object.assign(figures, { avg: latency.avg, p50: latency.p50, p95: latency.p95, p99: latency.p99 });
  if (throughput !== undefined) figures.throughput = throughput;
  const server = run.cpu?.perCallMs.server;
  const postgres = run.cpu?.perCallMs.postgres;
  if (server != null) figures.serverCpuMs = server;
  if (postgres != null) figures.postgresCpuMs = postgres;
  return figures;
}

/** The rounds of each run that produced figures, grouped by id in first-seen order. */
function roundsById(runs: readonly RunResult[]): Map<string, RunResult[]> {
  const byId = new Map<string, RunResult[]>();
  for (const run of runs) {
    if (run.skipped) continue;
    byId.set(run.id, [...(byId.get(run.id) ?? []), run]);
  }
  return byId;
}

/** The rounds that count: the undisturbed ones, or every one when all were disturbed. */
export function countedRounds(rounds: RunResult[]): { counted: RunResult[]; allDisturbed: boolean } {
  const undisturbed = rounds.filter((r) => !r.disturbed);
  return undisturbed.length > 0
    ? { counted: undisturbed, allDisturbed: false }
    : { counted: rounds, allDisturbed: true };
}

/** Each run's median and range over its undisturbed rounds. */
export function summarizeRounds(runs: readonly RunResult[]): RoundSummary[] {
  return [...roundsById(runs)].map(([id, rounds]) => {
    const { counted, allDisturbed } = countedRounds(rounds);
    const figures: RoundSummary["figures"] = {};
    for (const figure of FIGURES) {
      const values = counted.flatMap((r) => {
        const v = figuresOf(r)[figure];
        return v === undefined ? [] : [v];
      });
      if (values.length > 0) figures[figure] = spreadOf(values);
    }
    return {
      id,
      rounds: rounds.length,
      undisturbed: rounds.filter((r) => !r.disturbed).length,
      allDisturbed,
      outsideShares: rounds.map((r) => r.disturbance?.outsideShare ?? null),
      figures,
    };
  });
}

/**
 * The results as one run per id, as the report's tables and targets read
 * them: the round whose P95 (throughput for a run without latency) is the
 * median of the counted rounds, with its latency, throughput and CPU per
 * call replaced by the medians over those rounds, so "met" is judged on
 * medians of undisturbed rounds. Runs made once, and results from before
 * rounds existed, come through unchanged; so do runs without figures.
 */
export function medianView(results: BenchResults): BenchResults {
  const byId = roundsById(results.runs);
  const emitted = new Set<string>();
  const runs: RunResult[] = [];
  for (const run of results.runs) {
    if (emitted.has(run.id)) continue;
    const rounds = byId.get(run.id);
    // A round without figures is shown only when no round of its run has any.
    if (rounds && run.skipped) continue;
    emitted.add(run.id);
    runs.push(rounds === undefined ? run : rounds.length === 1 ? (rounds[0] ?? run) : medianRun(rounds));
  }
  return { ...results, runs };
}

function medianRun(rounds: RunResult[]): RunResult {
  const { counted, allDisturbed } = countedRounds(rounds);
  const key = (r: RunResult) => figuresOf(r).p95 ?? figuresOf(r).throughput ?? 0;
  const mid = median(counted.map(key));
  const representative = counted.reduce((best, r) => (Math.abs(key(r) - mid) < Math.abs(key(best) - mid) ? r : best));
  const med = (pick: (r: RunResult) => number | null | undefined): number | undefined => {
    const values = counted.flatMap((r) => {
      const v = pick(r);
      return v == null ? [] : [v];
    });
    return values.length > 0 ? median(values) : undefined;
  };
  const view: RunResult = { ...representative, disturbed: allDisturbed };
  if (representative.k6) {
    const l = representative.k6.latency;
    view.k6 = {
      ...representative.k6,
      throughput: med((r) => r.k6?.throughput) ?? representative.k6.throughput,
      latency: {
        ...l,
        avg: med((r) => r.k6?.latency.avg) ?? l.avg,
        p50: med((r) => r.k6?.latency.p50) ?? l.p50,
        p95: med((r) => r.k6?.latency.p95) ?? l.p95,
        p99: med((r) => r.k6?.latency.p99) ?? l.p99,
      },
    };
  }
  if (representative.cpu) {
    const c = representative.cpu;
    const perCall = { ...c.perCallMs };
    for (const part of Object.keys(perCall) as (keyof typeof perCall)[])
      perCall[part] = med((r) => r.cpu?.perCallMs[part]) ?? perCall[part];
    const nodes = c.perCallNodeMs?.map((v, i) => med((r) => r.cpu?.perCallNodeMs?.[i]) ?? v);
    view.cpu = {
      ...c,
      perCallMs: perCall,
      coresBusy: med((r) => r.cpu?.coresBusy) ?? c.coresBusy,
      ...(nodes ? { perCallNodeMs: nodes } : {}),
    };
  }
  return view;
}

/**
 * A plan's runs in the order they are made: its headline runs in
 * `plan.rounds` rounds, round-robin. A fixed-rate before/after twin swaps its
 * order every other round (before first in odd rounds, after first in even
 * ones): the tables grow with every run, so a pair made in one order only
 * would charge that growth to the build that always goes second.
 */
export function scheduledRuns(plan: BenchPlan): (PlannedRun & { round: number })[] {
  const schedule = scheduleRounds(plannedRuns(plan), plan.rounds, (run) => isHeadline(plan, run));
  for (let i = 0; i + 1 < schedule.length; i++) {
    const [first, second] = [schedule[i], schedule[i + 1]];
    if (first?.variant === "before" && second?.variant === "after" && first.round % 2 === 0) {
      schedule[i] = second;
      schedule[i + 1] = first;
      i++;
    }
  }
  return schedule;
}
