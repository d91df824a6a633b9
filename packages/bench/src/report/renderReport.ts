import type { LatencyStats } from "../latencyStats.ts";
import type { BenchResults, RunResult } from "../results.ts";
import { medianView } from "../rounds.ts";
import type { Chart } from "./charts.ts";
import { contentionCell, contentionShares, table } from "./markdown.ts";
import { renderHotSpot } from "./renderHotSpot.ts";
import { renderReadRate } from "./renderReadRate.ts";
import { renderRounds } from "./renderRounds.ts";
import { evaluateTargets, findRun, referenceLevel, signedPercent } from "./targets.ts";

export { contentionCell } from "./markdown.ts";

const ms = (v: number) => `${v.toFixed(2)} ms`;
const rate = (v: number) => `${v.toFixed(0)}/s`;
const cpuMs = (v: number | null | undefined) => (v == null ? "—" : `${v.toFixed(3)} ms`);
const cores = (v: number | null | undefined) => (v == null ? "—" : v.toFixed(2));

function failures(run: RunResult): string {
  const k6 = run.k6;
  if (!k6) return "—";
  const codes =
    run.lock && Object.keys(run.lock.errorsByCode).length > 0
      ? ` (${Object.entries(run.lock.errorsByCode)
          .map(([c, n]) => `${c} ${n}`)
          .join(", ")})`
      : "";
  return `${k6.failed} (${(k6.errorRate * 100).toFixed(2)}%)${codes}`;
}

function latencyCells(l: LatencyStats): string[] {
  return [ms(l.avg), ms(l.p50), ms(l.p95), ms(l.p99)];
}

/** report.md: the seed's two tables in its shape, then everything else a reader needs to judge them. */
export function renderReport(measured: BenchResults, charts: Chart[]): string {
  // One run per id: the median of its undisturbed rounds (rounds.ts); every table and target below reads these.
  const results = medianView(measured);
  const { plan, machine, setup } = results;
  const ref = referenceLevel(results);
  const out: string[] = [];
  out.push(`# Coupler benchmark — ${results.startedAt.slice(0, 10)}`);
  out.push(
    `Run ${results.startedAt} on **${machine.hostname}** (${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB), ` +
      `${plan.quick ? "**--quick smoke run** (short runs, small levels: indicative only)" : "full run"}, ${Math.round(results.elapsedSeconds / 60)} min in all` +
      (results.source?.commit
        ? `, from commit ${results.source.commit.slice(0, 12)}${results.source.dirty ? " **with uncommitted changes**" : ""}.`
        : "."),
  );

  out.push("## Targets");
  out.push(
    table(
      ["Target", "Seed", "Measured", "Met"],
      evaluateTargets(results).map((t) => [
        t.target,
        t.seed,
        t.measured,
        t.met === null ? "not measured" : t.met ? "yes" : "**no**",
      ]),
    ),
  );

  out.push(...renderRounds(measured));

  const reading = readingTheNumbers(results);
  if (reading.length > 0) {
    out.push("## Reading these numbers");
    out.push(reading.map((line) => `- ${line}`).join("\n"));
  }

  out.push(`## Operations: before (legacy path) and after (coupler), at ${ref} concurrent users`);
  out.push(
    "Average latency of the steady phase, as in the seed's table. Before = the legacy two-transaction path (`bench.*`), After = the coupler (`progression.*`).",
  );
  const opRow = (name: string, scenario: RunResult["scenario"]) => {
    const after = findRun(results, scenario, "coupler", ref)?.k6;
    const before = scenario === "validate" ? undefined : findRun(results, scenario, "legacy", ref)?.k6;
    const change =
      before && after && before.latency.avg > 0 ? signedPercent(after.latency.avg / before.latency.avg - 1) : "—";
    const beforeCell =
      scenario === "validate"
        ? "n/a (one read path; no legacy variant)"
        : before
          ? ms(before.latency.avg)
          : "not measured";
    return [name, beforeCell, after ? ms(after.latency.avg) : "not measured", change];
  };
  out.push(
    table(
      ["Operation", "Before", "After", "Change"],
      [opRow("Level Up", "level-up"), opRow("Sync", "sync"), opRow("Validate", "validate")],
    ),
  );

  out.push("## Level-up against concurrent users (coupler)");
  out.push(
    `Lock contention is measured, not guessed, and reported by cause: "found rows locked" is the share of calls whose lock statement found the pair's rows ` +
      `locked by another transaction (the statement asks itself, FOR UPDATE SKIP LOCKED in an InitPlan; no extra statement or transaction), ` +
      `"queued" the share that only waited in memory behind their process's transaction on the pair (write combining); a call that queued and then found the rows locked counts as found rows locked. ` +
      `Each is \`coupler_lock_contention_total{cause="row_lock"|"queue"}\` over the calls that took locks, ` +
      `and the wait is \`coupler_lock_wait_seconds\` (time queued in memory plus the one SELECT … FOR UPDATE OF progress, license statement, round trip included), both scraped from /metrics before and after each run ` +
      `(p95 wait is the upper bound of its histogram bucket). ` +
      `PostgreSQL's own view is beside it: pg_stat_activity sampled every 250 ms for backends waiting on a lock (wait_event_type = 'Lock'). Learners drawn at random from ${plan.learners}.`,
  );
  const levelRows = (target: "coupler" | "legacy") =>
    plan.levels.map((vus) => {
      const run = findRun(results, "level-up", target, vus);
      const l = run?.k6?.latency;
      const contention =
        target === "legacy" ? "none: no row locks (lost updates instead)" : contentionCell(run?.lock, run?.pgLockWaits);
      return [
        String(vus),
        l ? ms(l.avg) : "—",
        l ? ms(l.p95) : "—",
        l ? ms(l.p99) : "—",
        run ? contention : "not measured",
      ];
    });
  out.push(table(["Concurrent Users", "Avg", "P95", "P99", "Lock contention"], levelRows("coupler")));
  out.push("The legacy path at the same levels:");
  out.push(table(["Concurrent Users", "Avg", "P95", "P99", "Lock contention"], levelRows("legacy")));

  out.push("## Every user-model run");
  out.push(
    table(
      ["Scenario", "Path", "Users", "Avg", "P50", "P95", "P99", "Throughput", "Failed requests"],
      results.runs
        .filter((r) => r.k6 && ["level-up", "sync", "validate"].includes(r.scenario))
        .map((r) => [
          r.scenario,
          r.target,
          String(r.vus),
          ...latencyCells((r.k6 as NonNullable<RunResult["k6"]>).latency),
          rate(r.k6?.throughput ?? 0),
          failures(r),
        ]),
    ),
  );

  out.push(...renderHotSpot(results));

  out.push(`## Saturation and the ceiling: ${plan.saturationVus} concurrent clients, no think time`);
  out.push(
    "The ceiling is the same level-up transaction, statement for statement (BEGIN and SET LOCAL lock_timeout; one SELECT locking both rows FOR UPDATE OF progress, license with the idempotency lookup; " +
      "one INSERT of the audit row with the progress update, and the license update and history row when the level changes, as data-modifying CTEs; COMMIT), " +
      "issued straight through node-postgres from a worker process (no HTTP, tRPC, Drizzle or validation), and as a pgbench script " +
      "(extended protocol), each client on its own connection, against the same learners.",
  );
  const raw = findRun(results, "ceiling", "raw-pg")?.ceiling;
  const satRows = results.runs
    .filter((r) => r.scenario === "saturation" || r.scenario === "ceiling")
    .map((r) => {
      const l = r.k6?.latency ?? r.ceiling?.latency;
      const tput = r.k6?.throughput ?? r.ceiling?.throughput ?? 0;
      const errors = r.k6 ? failures(r) : String(r.ceiling?.errors ?? "—");
      if (r.skipped || !l) return [r.target, "—", "—", "—", "—", "—", r.skipped ?? "—", "—"];
      const ratio = raw && raw.throughput > 0 ? `${((tput / raw.throughput) * 100).toFixed(0)}%` : "—";
      const latencyRatio = raw && raw.latency.avg > 0 ? `${(l.avg / raw.latency.avg).toFixed(1)}×` : "—";
      return [r.target, rate(tput), ms(l.avg), ms(l.p95), ms(l.p99), ratio, errors, latencyRatio];
    });
  out.push(
    table(
      ["Path", "Throughput", "Avg", "P95", "P99", "Throughput vs raw pg", "Errors", "Avg latency vs raw pg"],
      satRows,
    ),
  );

  // The before build's run is in the reads-and-level-ups table below, beside this build's.
  const rateRuns = results.runs.filter((r) => r.scenario === "level-up-rate" && !r.variant);
  if (rateRuns.length > 0) {
    out.push(`## Fixed rate: ${plan.rate} level-ups a second, the API against a minimal server`);
    out.push(
      "The same k6 script (constant-arrival-rate) sends `progression.levelUp` to the API and to a minimal baseline server " +
        "(node:http, JSON.parse, the same level-up transaction through node-postgres, JSON.stringify; no auth, validation, logs or metrics), " +
        "so both do the same work at the same rate and their CPU per call compares. Dropped iterations are calls k6 could not start in time.",
    );
    const api = rateRuns.find((r) => r.target === "coupler")?.cpu?.perCallMs.server;
    const minimal = rateRuns.find((r) => r.target === "baseline")?.cpu?.perCallMs.server;
    out.push(
      table(
        [
          "Server",
          "Throughput",
          "Avg",
          "P95",
          "Dropped iterations",
          "Failed requests",
          "Server CPU/call",
          "PostgreSQL CPU/call",
          "k6 CPU/call",
          "Cores busy",
        ],
        rateRuns.map((r) => {
          const l = r.k6?.latency;
          const c = r.cpu;
          return [
            r.target === "baseline" ? "minimal (baseline)" : "API",
            rate(r.k6?.throughput ?? 0),
            l ? ms(l.avg) : "—",
            l ? ms(l.p95) : "—",
            String(r.droppedIterations ?? "—"),
            failures(r),
            cpuMs(c?.perCallMs.server),
            cpuMs(c?.perCallMs.postgres),
            cpuMs(c?.perCallMs.loadGenerator),
            cores(c?.coresBusy),
          ];
        }),
      ),
    );
    if (api != null && minimal != null && minimal > 0) {
      out.push(
        `API / minimal server CPU per call: **${(api / minimal).toFixed(1)}×** (${cpuMs(api)} against ${cpuMs(minimal)}).`,
      );
    }
  }

  out.push(...renderReadRate(results));

  const withCpu = results.runs.filter((r) => r.cpu);
  if (withCpu.length > 0) {
    out.push("## CPU per call");
    out.push(
      "CPU milliseconds per call (request, or transaction for the ceiling), from /proc: utime + stime of the load generator (k6, or pgbench's client), " +
        "of the server (the API processes, the minimal server, or the raw-pg worker), and of PostgreSQL (the postmaster and all its backends, exited ones " +
        "through the postmaster's cutime + cstime); Machine is all busy CPU in /proc/stat, so it includes everything else on the host. " +
        "k6 runs are measured from 1 s into the steady phase to its end (calls = steady throughput × window), the raw-pg worker over its measured seconds, " +
        `pgbench from start to exit. Cores busy = machine CPU seconds / wall seconds (${results.machine.cores} cores). ` +
        `API processes and the minimal server ran on Node ${results.setup.serverNode?.version ?? results.machine.node}; the bench itself on ${results.machine.node}.`,
    );
    out.push(
      table(
        ["Run", "Calls", "Load generator", "Server", "PostgreSQL", "Machine", "Cores busy"],
        withCpu.map((r) => {
          const c = r.cpu as NonNullable<RunResult["cpu"]>;
          return [
            r.id,
            String(c.calls),
            cpuMs(c.perCallMs.loadGenerator),
            cpuMs(c.perCallMs.server),
            cpuMs(c.perCallMs.postgres),
            cpuMs(c.perCallMs.machine),
            cores(c.coresBusy),
          ];
        }),
      ),
    );
  }

  out.push("## Integrity after each run");
  out.push(
    "core's `runIntegrityAudit` over every pair after each run. Legacy runs may leave desynced pairs (lost updates between its two transactions); " +
      "the bench repairs them with sync from progress so the next run starts clean (Repaired). History gaps are cumulative and come from the legacy path's duplicate history rows.",
  );
  out.push(
    table(
      ["Run", "Desynced", "Orphans", "Missing halves", "History gaps", "Repaired"],
      results.runs
        .filter((r) => r.integrity)
        .map((r) => {
          const i = r.integrity as NonNullable<RunResult["integrity"]>;
          return [
            r.id,
            String(i.desynced),
            String(i.orphans),
            String(i.missingHalves),
            String(i.historyGaps),
            String(i.repaired),
          ];
        }),
    ),
  );

  const failed = results.runs.filter((r) => r.skipped);
  if (failed.length > 0) {
    out.push("## Runs without figures");
    out.push(failed.map((r) => `- ${r.id}: ${r.skipped}`).join("\n"));
  }

  out.push("## Charts");
  out.push(charts.map((c) => `![${c.title}](${c.file})`).join("\n\n"));

  out.push("## Machine and method");
  out.push(
    table(
      ["", ""],
      [
        ["Host", `${machine.hostname}, ${machine.os}`],
        ["CPU", `${machine.cores} × ${machine.cpuModel}`],
        ["Memory", `${machine.memoryGiB} GiB`],
        [
          "Node",
          setup.serverNode && setup.serverNode.version !== machine.node
            ? `${machine.node} (bench, k6 orchestration), ${setup.serverNode.version} (API and minimal server)`
            : machine.node,
        ],
        ["PostgreSQL", `${machine.postgres} (${setup.database}, fsync ${setup.fsync ? "on" : "off"})`],
        ["k6", machine.k6],
        ["pgbench", machine.pgbench ?? "not found"],
      ],
    ),
  );
  out.push(
    [
      `- k6 on the same machine as the API and PostgreSQL (loopback only): ${setup.apiProcesses} API process(es) in bench mode, pool ${setup.poolSize} each, lock timeout ${setup.lockTimeoutMs} ms; VUs dealt round-robin over the processes.`,
      `- Before the first run each path is warmed up for 3 s (not counted). Each run ramps up for ${plan.rampUpSeconds} s, then holds for ${plan.durationSeconds} s; only the steady phase counts (requests are tagged phase=steady).`,
      `- User model: each VU picks a random learner, calls the operation, then thinks ${plan.thinkMs.min}–${plan.thinkMs.max} ms (uniform), so VUs do not fire in lockstep.`,
      "- Coupler runs go through `progression.levelUp` / `progression.sync` / `progression.validate` with the coupling guard ON; legacy runs through `bench.legacyLevelUp` / `bench.legacySync` with the guard OFF (it would refuse their first transaction). Coupler and legacy runs use disjoint learners.",
      "- Latency is k6's http_req_duration (request sent to response received), so it includes HTTP, JSON, auth and tRPC, not only the database.",
      "- Thresholds in the scenarios encode the targets (avg < 5 ms, P95 < 25 ms, no failed requests); k6 exits 99 when one fails, and the run still counts.",
    ].join("\n"),
  );
  return `${out.join("\n\n")}\n`;
}

/**
 * What the tables say about the seed's claims, derived from this run's data:
 * where latency is queueing on a saturated machine rather than lock waits,
 * and that contention follows requests per learner, not users in total.
 */
export function readingTheNumbers(results: BenchResults): string[] {
  const { plan } = results;
  const lines: string[] = [];
  const levelUps = results.runs.filter((r) => r.scenario === "level-up" && r.target === "coupler" && r.k6);
  const capacity = Math.max(
    0,
    ...results.runs.filter((r) => r.target === "coupler" && r.k6).map((r) => r.k6?.throughput ?? 0),
  );
  const meanThinkS = (plan.thinkMs.min + plan.thinkMs.max) / 2000;
  const saturated = levelUps.filter((r) => r.vus / meanThinkS > capacity * 0.9);
  const largest = levelUps.at(-1);
  if (saturated.length > 0 && largest?.k6) {
    const waiters = largest.pgLockWaits ? `${(largest.pgLockWaits.shareWithWaiters * 100).toFixed(0)}%` : "—";
    lines.push(
      `At ${saturated.map((r) => r.vus).join(" and ")} users the offered load (about one call per user per ${meanThinkS.toFixed(1)} s) ` +
        `exceeds the most this machine served in any coupler run (${rate(capacity)}, k6, the API and PostgreSQL sharing ${results.machine.cores} cores), ` +
        `so latency there is queueing for CPU, not waiting for row locks: at ${largest.vus} users PostgreSQL saw a lock waiter in ${waiters} of samples. ` +
        `More cores, or k6 on another machine, move that knee; the locks do not.`,
    );
  }
  const hot = results.runs.find((r) => r.scenario === "hot-spot" && r.target === "coupler" && r.lock);
  if (hot?.lock && largest?.lock) {
    lines.push(
      `Contention follows requests per learner, not users in total: ${largest.vus} users spread over ${plan.learners} learners: ` +
        `${contentionShares(largest.lock)} of level-ups; ${hot.vus} users on ${plan.hotSpot.learners} learners: ` +
        `${contentionShares(hot.lock)}. A fixed "users per specialization" threshold, as the seed states, does not describe row locks ` +
        `that are per learner and specialization.`,
    );
  }
  const legacyDesyncs = results.runs
    .filter((r) => r.target === "legacy")
    .reduce((n, r) => n + (r.integrity?.desynced ?? 0), 0);
  const couplerDesyncs = results.runs
    .filter((r) => r.target === "coupler")
    .reduce((n, r) => n + (r.integrity?.desynced ?? 0), 0);
  lines.push(
    `Consistency: the coupler runs left ${couplerDesyncs} desynced pair(s); the legacy runs left ${legacyDesyncs} (repaired between runs). ` +
      `Lost updates are not visible in these latency runs; RELIABILITY.md counts them under the same kind of load.`,
  );
  return lines;
}
