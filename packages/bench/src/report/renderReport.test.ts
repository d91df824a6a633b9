import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { BenchResults, RunResult } from "../results.ts";
import type { HotSpotVariantName } from "../plan.ts";
import { latencyScale, renderCharts } from "./charts.ts";
import { readingTheNumbers, renderReport } from "./renderReport.ts";
import { evaluateTargets } from "./targets.ts";

// summary.json of a real `pnpm bench --quick` (levels 10 and 50, every scenario, both paths, both ceilings).
const results = JSON.parse(
  readFileSync(new URL("../../test/fixtures/bench-results-quick.json", import.meta.url), "utf8"),
) as BenchResults;
const report = renderReport(results, [{ file: "latency-vs-users.svg", title: "Latency", svg: "" }]);
const lines = report.split("\n");

function tableAfter(heading: string, header: string): string[] {
  const start = lines.findIndex((l, i) => l === header && lines.slice(0, i).some((h) => h.startsWith(heading)));
  expect(start, `table "${header}" under "${heading}"`).toBeGreaterThan(-1);
  const rows: string[] = [];
  for (let i = start + 2; i < lines.length && lines[i]?.startsWith("|"); i++) rows.push(lines[i] ?? "");
  return rows;
}

describe("renderReport", () => {
  it("gives the seed's operations table in its shape: legacy before, coupler after, change in percent", () => {
    const rows = tableAfter("## Operations", "| Operation | Before | After | Change |");
    expect(rows).toEqual([
      "| Level Up | 69.92 ms | 38.34 ms | -45% |",
      "| Sync | 16.39 ms | 51.71 ms | +215% |",
      "| Validate | n/a (one read path; no legacy variant) | 36.56 ms | — |",
    ]);
  });

  it("gives the seed's concurrency table with one row per level and contention as a measured share with its wait", () => {
    const rows = tableAfter("## Level-up against", "| Concurrent Users | Avg | P95 | P99 | Lock contention |");
    expect(rows.slice(0, 2).map((r) => r.split(" | ").slice(0, 4).join(" | "))).toEqual([
      "| 10 | 38.34 ms | 93.01 ms | 146.55 ms",
      "| 50 | 446.56 ms | 1390.56 ms | 1624.36 ms",
    ]);
    expect(rows[0]).toContain("100.0% found the pair busy (avg lock wait 9.49 ms, p95 ≤ 25.00 ms)");
    expect(rows[0]).toContain("PostgreSQL: a lock waiter in 0% of samples");
    expect(report).toContain("pg_stat_activity sampled every 250 ms");
  });

  it("splits contention into rows found locked and calls queued in memory when the API labels the cause", () => {
    const copy = structuredClone(results);
    const run = copy.runs.find((r) => r.scenario === "level-up" && r.target === "coupler" && r.vus === 10);
    if (!run?.lock) throw new Error("fixture has no coupler level-up run at 10 users");
    run.lock = { ...run.lock, contentionShare: 0.93, rowLockShare: 0.031, queueShare: 0.899 };
    const row = renderReport(copy, [])
      .split("\n")
      .find((l) => l.startsWith("| 10 |"));
    expect(row).toContain("found rows locked 3.1%, queued 89.9% (avg lock wait 9.49 ms, p95 ≤ 25.00 ms)");
    expect(row).not.toContain("found the pair busy");
  });

  it("has the hot-spot, saturation and ceiling tables with throughput as a ratio to raw pg", () => {
    expect(
      tableAfter(
        "## Hot spot",
        "| Path | Build | Combining | Workers | Learners | Throughput | Of spread | Avg | P95 | P99 | PG CPU/call | Failed | Lock contention | Desynced after |",
      ),
    ).toHaveLength(2);
    const sat = tableAfter(
      "## Saturation",
      "| Path | Throughput | Avg | P95 | P99 | Throughput vs raw pg | Errors | Avg latency vs raw pg |",
    );
    expect(sat.map((r) => r.split(" | ")[0])).toEqual(["| coupler", "| legacy", "| raw-pg", "| pgbench"]);
    expect(sat[0]).toContain("| 104/s |");
    expect(sat[0]).toContain("| 21% |");
    expect(sat[2]).toContain("| 100% |");
  });

  it("states the machine, the versions and the method", () => {
    expect(report).toContain("| CPU | 2 × AMD EPYC |");
    expect(report).toContain("k6 v0.48.0");
    expect(report).toContain("PostgreSQL 17");
    expect(report).toContain("--quick smoke run");
    expect(report).toContain("only the steady phase counts");
  });

  it("marks each target met, not met or not measured, honestly", () => {
    // The quick fixture has no fixed-rate, one-at-a-time, 1000-user, minimal-server or spread hot-spot runs.
    const checks = evaluateTargets(results);
    expect(checks.map((c) => c.met)).toEqual([null, null, null, null, null, null, true, null, null, true]);
    expect(checks[7]?.measured).toMatch(/^no spread run, P95 /);
    expect(checks[2]?.measured).toBe("not measured (no 1000-user level in this run)");
    expect(report).toMatch(/\| API CPU per level-up ≤ 1\.25× .* \| not measured \|/);
  });

  it("checks the CPU, single-call and saturation targets against the minimal server of the same run", () => {
    const base = results.runs.find((r) => r.scenario === "saturation" && r.target === "coupler")?.k6;
    if (!base) throw new Error("the fixture has a saturation run");
    const k6 = (p50: number, throughput: number) => ({
      ...base,
      latency: { ...base.latency, p50 },
      throughput,
      failed: 0,
    });
    const cpu = (server: number, postgres: number) => ({
      wallSeconds: 10,
      calls: 3000,
      coresBusy: 1.5,
      cpuMs: { loadGenerator: 2100, server: server * 3000, postgres: postgres * 3000, machine: 6000 },
      perCallMs: { loadGenerator: 0.7, server, postgres, machine: 2 },
    });
    const run = (
      scenario: RunResult["scenario"],
      target: RunResult["target"],
      vus: number,
      extra: Partial<RunResult>,
    ): RunResult => ({
      id: `${scenario}-${target}-${vus}`,
      scenario,
      target,
      vus,
      operation: "levelUp",
      ...extra,
    });
    const measured = {
      ...results,
      runs: [
        ...results.runs.filter((r) => r.scenario !== "saturation" || r.target !== "coupler"),
        run("saturation", "coupler", 50, { k6: k6(9, 900) }),
        run("saturation", "baseline", 50, { k6: k6(8, 1000) }),
        run("single", "coupler", 1, { k6: k6(1.4, 600) }),
        run("single", "baseline", 1, { k6: k6(1.1, 800) }),
        run("level-up-rate", "coupler", 300, { cpu: cpu(0.7, 0.5) }),
        run("level-up-rate", "baseline", 300, { cpu: cpu(0.5, 0.52) }),
        run("validate-rate", "coupler", 300, { cpu: cpu(0.6, 0.3) }),
        // The before build's runs are its own rows; the targets judge this build's.
        run("validate-rate", "coupler", 300, {
          id: "validate-rate-coupler-300-before",
          variant: "before",
          cpu: cpu(0.9, 0.4),
        }),
        run("level-up-rate", "coupler", 300, {
          id: "level-up-rate-coupler-300-before",
          variant: "before",
          cpu: cpu(0.1, 0.4),
        }),
      ],
    };
    const [apiCpu, pgCpu, , , single, saturation] = evaluateTargets(measured);
    expect(apiCpu).toMatchObject({ met: false, measured: "1.40× (0.70 ms vs 0.50 ms)" });
    expect(pgCpu?.met).toBe(true);
    expect(single).toMatchObject({ met: true, measured: "p50 1.40 ms (minimal server 1.10 ms)" });
    expect(saturation?.met).toBe(true);
    expect(saturation?.measured).toMatch(/^90% \(900\/s vs 1000\/s\)/);
    const read = evaluateTargets(measured).find((c) => c.target.startsWith("API CPU per read"));
    expect(read).toMatchObject({ met: true, measured: "0.86× (0.60 ms vs 0.70 ms)" });
  });
});

describe("renderCharts", () => {
  it("draws the four charts as SVG through Vega-Lite, with the measured series in them", async () => {
    const charts = await renderCharts(results);
    expect(charts.map((c) => c.file)).toEqual([
      "latency-vs-users.svg",
      "throughput-vs-ceiling.svg",
      "lock-wait.svg",
      "hot-spot.svg",
    ]);
    for (const chart of charts) {
      expect(chart.svg.startsWith("<svg")).toBe(true);
      expect(chart.svg).toContain("</svg>");
    }
    const [latency, throughput, lockWait] = charts;
    expect(latency?.svg).toContain("coupler");
    expect(latency?.svg).toContain("legacy");
    expect(latency?.svg).toContain("concurrent users (VUs)");
    expect(throughput?.svg).toContain("raw pg (ceiling)");
    expect(throughput?.svg).toContain("pgbench (ceiling)");
    expect(lockWait?.svg).toContain("lock wait (ms)");
  });

  it("draws the hot spot on a chart of its own, not among the user-model runs", async () => {
    const charts = await renderCharts(results);
    const hotSpot = charts.find((c) => c.file === "hot-spot.svg");
    expect(hotSpot?.svg).toContain("Hot spot: 20 users on 2 learners");
    expect(hotSpot?.svg).toContain("lock wait p95");
    // Regression: the hot spot's 20-user points sat on the lock-wait chart's user axis between 10 and 50.
    for (const chart of charts.filter((c) => c.file !== "hot-spot.svg")) expect(chart.svg).not.toContain("hot-spot");
  });

  it("prints the lock-wait legend in full (it was cut to 'p95 wait (bucket b…')", async () => {
    const lockWait = (await renderCharts(results)).find((c) => c.file === "lock-wait.svg");
    expect(lockWait?.svg).toContain("p95 (bucket bound)");
    expect(lockWait?.svg).not.toContain("…");
  });

  it("tells avg, p95 and p99 apart by shape, and fits the latency axis to the data", async () => {
    const latency = (await renderCharts(results)).find((c) => c.file === "latency-vs-users.svg");
    expect(latency?.svg).toContain("p99");
    expect(latency?.svg).toMatch(/latency \(ms\)</);
    // The fixture's latencies are 33–1624 ms: a linear axis, no 10,000 ms tick.
    expect(latency?.svg).not.toContain("10,000");
    expect(latencyScale([33, 1624])).toEqual({ type: "linear", nice: true });
    expect(latencyScale([5, 16_000])).toEqual({ type: "log", domain: [4, 20_000], nice: false });
  });
});

describe("the hot spot's comparison", () => {
  it("puts combining on and off, the spread-out twin and two workers side by side, each hot run as a share of its spread twin", () => {
    const hot = results.runs.find((r) => r.scenario === "hot-spot" && r.target === "coupler");
    if (!hot?.k6) throw new Error("the fixture has a coupler hot-spot run");
    const variant = (name: HotSpotVariantName, throughput: number): RunResult => ({
      ...hot,
      id: `${hot.id}-${name}`,
      variant: name,
      k6: { ...hot.k6, throughput } as NonNullable<RunResult["k6"]>,
    });
    const withVariants: BenchResults = {
      ...results,
      plan: {
        ...results.plan,
        hotSpot: {
          ...results.plan.hotSpot,
          spreadLearners: 1000,
          variants: ["combining-off", "spread", "workers-2", "workers-2-spread"],
        },
      },
      runs: [
        ...results.runs.map((r) =>
          r === hot ? { ...r, k6: { ...hot.k6, throughput: 900 } as NonNullable<RunResult["k6"]> } : r,
        ),
        variant("combining-off", 450),
        variant("spread", 1000),
        variant("workers-2", 700),
        variant("workers-2-spread", 1000),
      ],
    };
    const rendered = renderReport(withVariants, []);
    const rows = rendered.split("\n").filter((l) => l.startsWith("| coupler |"));
    expect(rows.find((r) => r.includes("| this | on | 1 | 2 | 900/s | 90% |"))).toBeDefined();
    expect(rows.find((r) => r.includes("| this | off | 1 | 2 | 450/s | 45% |"))).toBeDefined();
    expect(rows.find((r) => r.includes("| this | on | 1 | 1000 | 1000/s | — |"))).toBeDefined();
    expect(rows.find((r) => r.includes("| this | on | 2 | 2 | 700/s | 70% |"))).toBeDefined();
    expect(rendered).toContain("### Workers: the hot spot at API_WORKERS=1 and 2 (combining on)");
    expect(rendered).toMatch(/\| 1 \| 900\/s \| 1000\/s \| 90% \|/);
    expect(rendered).toMatch(/\| 2 \| 700\/s \| 1000\/s \| 70% \|/);
  });
});

describe("readingTheNumbers", () => {
  it("compares the hot spot's contention with the spread-out runs' and counts desyncs per path", () => {
    const lines = readingTheNumbers(results);
    expect(lines.some((l) => l.startsWith("Contention follows requests per learner"))).toBe(true);
    expect(lines.at(-1)).toMatch(/^Consistency: the coupler runs left 0 desynced pair\(s\)/);
  });

  it("calls latency queueing when the offered load exceeds what the machine served", () => {
    const copy = structuredClone(results);
    const levelUps = copy.runs.filter((r) => r.scenario === "level-up" && r.target === "coupler");
    const largest = levelUps.at(-1);
    if (!largest) throw new Error("fixture has no coupler level-up run");
    largest.vus = 100_000; // far beyond any throughput the fixture records
    const queueing = readingTheNumbers(copy).find((l) => l.includes("queueing for CPU"));
    expect(queueing).toContain("At 100000 users");
    expect(readingTheNumbers(results).some((l) => l.includes("queueing for CPU"))).toBe(false);
  });

  it("gives CPU per call for each measured run, and the fixed-rate table with the API / minimal ratio", () => {
    const cpu = (server: number) => ({
      wallSeconds: 29,
      calls: 8_700,
      coresBusy: 1.5,
      cpuMs: { loadGenerator: 2_610, server: server * 8_700, postgres: 5_220, machine: 43_500 },
      perCallMs: { loadGenerator: 0.3, server, postgres: 0.6, machine: 5 },
    });
    const saturation = results.runs.find((r) => r.id === "saturation-coupler-10");
    if (!saturation?.k6) throw new Error("the fixture has a coupler saturation run");
    const withCpu: BenchResults = {
      ...results,
      plan: { ...results.plan, rate: 300 },
      setup: { ...results.setup, serverNode: { binary: "/opt/node24/bin/node", version: "v24.1.0" } },
      runs: [
        ...results.runs,
        {
          id: "level-up-rate-coupler-300",
          scenario: "level-up-rate",
          target: "coupler",
          vus: 300,
          operation: "levelUp",
          k6: saturation.k6,
          cpu: cpu(1.2),
          droppedIterations: 0,
        },
        {
          id: "level-up-rate-baseline-300",
          scenario: "level-up-rate",
          target: "baseline",
          vus: 300,
          operation: "levelUp",
          k6: saturation.k6,
          cpu: cpu(0.4),
          droppedIterations: 3,
        },
      ],
    };
    const rendered = renderReport(withCpu, []);
    expect(rendered).toContain("## Fixed rate: 300 level-ups a second, the API against a minimal server");
    expect(rendered).toContain("| minimal (baseline) | 104/s |");
    expect(rendered).toContain("| 3 | 0 (0.00%) | 0.400 ms | 0.600 ms | 0.300 ms | 1.50 |");
    expect(rendered).toContain("API / minimal server CPU per call: **3.0×** (1.200 ms against 0.400 ms).");
    expect(rendered).toContain(
      "| level-up-rate-coupler-300 | 8700 | 0.300 ms | 1.200 ms | 0.600 ms | 5.000 ms | 1.50 |",
    );
    expect(rendered).toContain("ran on Node v24.1.0");
    expect(report).not.toContain("## Fixed rate");
  });
});
