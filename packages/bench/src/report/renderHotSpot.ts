import type { BenchResults, RunResult } from "../results.ts";
import { hotSpotVariant } from "../plan.ts";
import { contentionCell, contentionShares, table } from "./markdown.ts";

const ms = (v: number) => `${v.toFixed(2)} ms`;
const rate = (v: number) => `${v.toFixed(0)}/s`;
const percent = (v: number) => `${(v * 100).toFixed(0)}%`;

/** What a hot-spot run was: which build, combining, worker processes and learners. */
export interface HotSpotSetup {
  build: "this" | "before";
  combining: "on" | "off" | "—";
  workers: number;
  spread: boolean;
  learners: number;
}

/** The setup of a hot-spot run, from its variant (none = combining on, one process, the hot learners). */
export function hotSpotSetup(results: BenchResults, run: RunResult): HotSpotSetup {
  const plan = results.plan;
  if (run.target === "legacy")
    return { build: "this", combining: "—", workers: 1, spread: false, learners: plan.hotSpot.learners };
  if (!run.variant)
    return { build: "this", combining: "on", workers: 1, spread: false, learners: plan.hotSpot.learners };
  const variant = hotSpotVariant(plan, run.variant);
  return {
    build: variant.before ? "before" : "this",
    combining: variant.before ? "—" : variant.apiEnv.COUPLER_WRITE_COMBINING === "off" ? "off" : "on",
    workers: Number(variant.apiEnv.API_WORKERS ?? "1"),
    spread: run.variant.endsWith("spread"),
    learners: variant.learners,
  };
}

/** The spread-out run a hot-spot run is compared with: same build and workers, combining on, many learners. */
function spreadOf(results: BenchResults, setup: HotSpotSetup): RunResult | undefined {
  return hotRuns(results).find((r) => {
    const s = hotSpotSetup(results, r);
    return s.spread && s.build === setup.build && s.workers === setup.workers;
  });
}

function hotRuns(results: BenchResults): RunResult[] {
  return results.runs.filter((r) => r.scenario === "hot-spot" && r.target === "coupler" && r.k6 && !r.skipped);
}

/**
 * The hot spot's sections of report.md: every hot-spot run (coupler with
 * combining on and off, the same load spread over many learners, two
 * workers, the "before" build when measured, and the legacy path), each
 * hot run's throughput as a share of its spread-out twin's, and the workers
 * comparison.
 */
export function renderHotSpot(results: BenchResults): string[] {
  const { plan } = results;
  const out: string[] = [];
  out.push(`## Hot spot: ${plan.hotSpot.vus} VUs on ${plan.hotSpot.learners} learners`);
  out.push(
    `Row locks are per learner and specialization, so contention grows with requests per learner, not with users in total. ` +
      `Here every VU levels up one of ${plan.hotSpot.learners} learners with ${plan.hotSpot.thinkMs.min}–${plan.hotSpot.thinkMs.max} ms think time; ` +
      `"spread" is the same load over ${plan.hotSpot.spreadLearners ?? "many"} learners, in the same run, the reference a hot learner is measured against. ` +
      `With write combining on, calls on a pair that arrive while its transaction is in flight wait in memory and share the next transaction. ` +
      `Lock contention has two causes, reported apart: "found rows locked" is the share of calls whose lock statement found the pair's rows held by ` +
      `another transaction (measured by that statement itself; no second transaction), database contention that the seed's "< 5%" is about; ` +
      `"queued" is the share that only waited in memory behind their process's transaction on the pair, which is write combining at work (its cost is in the latency columns). ` +
      `A call that queued and then found the rows locked counts as found rows locked. ` +
      `PostgreSQL CPU is per call, over the steady phase.`,
  );
  const rows = results.runs
    .filter((r) => r.scenario === "hot-spot")
    .map((r) => {
      const s = hotSpotSetup(results, r);
      const l = r.k6?.latency;
      const spread = r.target === "coupler" && !s.spread ? spreadOf(results, s) : undefined;
      const ofSpread =
        spread?.k6 && r.k6 && spread.k6.throughput > 0 ? percent(r.k6.throughput / spread.k6.throughput) : "—";
      const contention = r.target === "legacy" ? "none: no row locks" : contentionCell(r.lock, r.pgLockWaits);
      const pgCpu = r.cpu?.perCallMs.postgres;
      if (r.skipped || !l)
        return [
          r.target,
          s.build,
          s.combining,
          String(s.workers),
          String(s.learners),
          "—",
          "—",
          "—",
          "—",
          "—",
          "—",
          r.skipped ?? "—",
          "—",
          "—",
        ];
      return [
        r.target,
        s.build,
        s.combining,
        String(s.workers),
        String(s.learners),
        rate(r.k6?.throughput ?? 0),
        ofSpread,
        ms(l.avg),
        ms(l.p95),
        ms(l.p99),
        pgCpu == null ? "—" : `${pgCpu.toFixed(3)} ms`,
        `${r.k6?.failed ?? "—"}`,
        contention,
        String(r.integrity?.desynced ?? "—"),
      ];
    });
  out.push(
    table(
      [
        "Path",
        "Build",
        "Combining",
        "Workers",
        "Learners",
        "Throughput",
        "Of spread",
        "Avg",
        "P95",
        "P99",
        "PG CPU/call",
        "Failed",
        "Lock contention",
        "Desynced after",
      ],
      rows,
    ),
  );

  const byWorkers = new Map<number, { hot?: RunResult; spread?: RunResult }>();
  for (const r of hotRuns(results)) {
    const s = hotSpotSetup(results, r);
    if (s.build !== "this" || s.combining !== "on") continue;
    const entry = byWorkers.get(s.workers) ?? {};
    entry[s.spread ? "spread" : "hot"] = r;
    byWorkers.set(s.workers, entry);
  }
  if (byWorkers.size > 1) {
    out.push("### Workers: the hot spot at API_WORKERS=1 and 2 (combining on)");
    out.push(
      "Row locks still serialize a pair across processes: with two workers a hot pair's calls are split between two queues, " +
        "so each process combines fewer of them and the two processes' transactions take turns on the pair's rows.",
    );
    const workerRows = [...byWorkers.entries()]
      .sort(([a], [b]) => a - b)
      .map(([workers, { hot, spread }]) => {
        const h = hot?.k6;
        const sp = spread?.k6;
        return [
          String(workers),
          h ? rate(h.throughput) : "—",
          sp ? rate(sp.throughput) : "—",
          h && sp && sp.throughput > 0 ? percent(h.throughput / sp.throughput) : "—",
          h ? ms(h.latency.p95) : "—",
          h ? ms(h.latency.p99) : "—",
          hot?.lock ? contentionShares(hot.lock) : "—",
        ];
      });
    out.push(
      table(
        ["Workers", "Hot throughput", "Spread throughput", "Hot of spread", "Hot P95", "Hot P99", "Hot contended"],
        workerRows,
      ),
    );
  }
  return out;
}
