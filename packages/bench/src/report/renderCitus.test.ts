import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { BenchResults, RunResult } from "../results.ts";
import { renderCitusSection } from "./renderCitus.ts";

const fixture = JSON.parse(
  readFileSync(new URL("../../test/fixtures/bench-results-quick.json", import.meta.url), "utf8"),
) as BenchResults;

/** The quick fixture with one saturation run of the coupler at `throughput`/s and `postgres` ms of PostgreSQL CPU a call. */
function withRun(throughput: number, postgres: number, citus: boolean): BenchResults {
  const latency = { count: 1000, avg: 20, p50: 18, p95: 40, p99: 60, max: 90 };
  const run: RunResult = {
    id: "saturation-coupler-50",
    scenario: "saturation",
    target: "coupler",
    vus: 50,
    operation: "levelUp",
    k6: { latency, requests: 1000, throughput, failed: 0, errorRate: 0, thresholds: [], exitCode: 0 },
    cpu: {
      wallSeconds: 10,
      calls: 1000,
      coresBusy: 2,
      cpuMs: { loadGenerator: null, server: 500, postgres: postgres * 1000, machine: null },
      perCallMs: { loadGenerator: null, server: 0.5, postgres, machine: null },
    },
  };
  return {
    ...fixture,
    setup: {
      ...fixture.setup,
      database: citus ? "citus" : "embedded",
      ...(citus ? { citus: { workers: ["127.0.0.1:9701", "127.0.0.1:9702"], postmasterPids: [1, 2, 3] } } : {}),
    },
    runs: [run],
  };
}

describe("renderCitusSection", () => {
  it("puts each Citus run beside the same run on one server, PostgreSQL CPU summed over the nodes, and says why one machine cannot show scale-out", () => {
    const section = renderCitusSection(withRun(400, 2.5, true), withRun(600, 1.2, false));
    expect(section).toContain("## Citus: coordinator + 2 workers on this machine");
    expect(section).toContain(
      "| saturation | 50 | 600/s | 18.00 ms | 40.00 ms | 1.200 ms | 0.500 ms | 400/s | 18.00 ms | 40.00 ms | 2.500 ms | 0.500 ms |",
    );
    expect(section).toContain("cannot add capacity here");
    expect(section).toContain("127.0.0.1:9701, 127.0.0.1:9702");
  });

  it("gives a run made in rounds one row, the median of its undisturbed rounds", () => {
    const rounds = (results: BenchResults, throughputs: number[]): BenchResults => {
      const [run] = results.runs;
      if (!run?.k6) throw new Error("withRun makes one k6 run");
      const k6 = run.k6;
      return {
        ...results,
        runs: throughputs.map((throughput, i) => ({ ...run, round: i + 1, k6: { ...k6, throughput } })),
      };
    };
    const section = renderCitusSection(
      rounds(withRun(0, 2.5, true), [380, 420, 400]),
      rounds(withRun(0, 1.2, false), [600, 650, 550]),
    );
    const rows = section.split("\n").filter((line) => line.startsWith("| saturation |"));
    expect(rows).toEqual([
      "| saturation | 50 | 600/s | 18.00 ms | 40.00 ms | 1.200 ms | 0.500 ms | 400/s | 18.00 ms | 40.00 ms | 2.500 ms | 0.500 ms |",
    ]);
  });

  it("refuses a results dir that is not a Citus run", () => {
    expect(() => renderCitusSection(withRun(600, 1.2, false))).toThrow(/not a pnpm bench --citus run/);
  });
});
