import { describe, expect, it } from "vitest";
import { FULL_PLAN } from "../plan.ts";
import type { BenchResults, RunResult } from "../results.ts";
import { renderReadRate } from "./renderReadRate.ts";

/** A fixed-rate run of 300 calls/s with the given API and PostgreSQL CPU per call (ms). */
function rateRun(
  scenario: "level-up-rate" | "validate-rate",
  build: "before" | "after" | false,
  server: number,
  postgres: number,
): RunResult {
  return {
    id: `${scenario}-coupler-300${build ? `-${build}` : ""}`,
    scenario,
    target: "coupler",
    vus: 300,
    ...(build ? { variant: build } : {}),
    operation: scenario === "validate-rate" ? "validate" : "levelUp",
    droppedIterations: 0,
    k6: {
      latency: { count: 3000, avg: 1.5, p50: 1.2, p95: 3, p99: 6, max: 9 },
      requests: 3000,
      throughput: 300,
      failed: 0,
      errorRate: 0,
      thresholds: [],
      exitCode: 0,
    },
    cpu: {
      wallSeconds: 10,
      calls: 3000,
      coresBusy: 1,
      cpuMs: { loadGenerator: 900, server: server * 3000, postgres: postgres * 3000, machine: 6000 },
      perCallMs: { loadGenerator: 0.3, server, postgres, machine: 2 },
    },
  };
}

const results = (runs: RunResult[]) => ({ plan: FULL_PLAN, runs }) as unknown as BenchResults;

describe("renderReadRate", () => {
  it("compares the before build with this build each in a process of its own, beside the shared API's rows", () => {
    const out = renderReadRate(
      results([
        rateRun("level-up-rate", false, 0.6, 0.5),
        rateRun("level-up-rate", "before", 0.5, 0.6),
        rateRun("level-up-rate", "after", 0.45, 0.5),
        rateRun("validate-rate", false, 0.3, 0.2),
        rateRun("validate-rate", "before", 0.75, 0.4),
        rateRun("validate-rate", "after", 0.25, 0.2),
      ]),
    ).join("\n");
    expect(out).toContain(
      "| level-up | before (own process) | 300/s | 1.50 ms | 3.00 ms | 0 | 0 | 0.500 ms | 0.600 ms | 1.00× |\n" +
        "| level-up | this (own process) | 300/s | 1.50 ms | 3.00 ms | 0 | 0 | 0.450 ms | 0.500 ms | 1.00× |\n" +
        "| level-up | this | 300/s | 1.50 ms | 3.00 ms | 0 | 0 | 0.600 ms | 0.500 ms | 1.00× |",
    );
    // The fair comparison is own process against own process, not the shared API's 0.600 ms.
    expect(out).toContain(
      "API CPU per level-up, before → this build, each in a process of its own: 0.500 ms → 0.450 ms (-10%).",
    );
    expect(out).toContain(
      "API CPU per validate, before → this build, each in a process of its own: 0.750 ms → 0.250 ms (-67%).",
    );
  });

  it("gives validate and level-up at the fixed rate, before and after, with API CPU against the same build's level-up and disturbed runs marked", () => {
    const out = renderReadRate(
      results([
        rateRun("level-up-rate", false, 0.4, 0.5),
        rateRun("level-up-rate", "before", 0.5, 0.6),
        rateRun("validate-rate", false, 0.3, 0.2),
        { ...rateRun("validate-rate", "before", 0.75, 0.4), disturbed: true },
      ]),
    ).join("\n");
    expect(out).toContain("## Reads and level-ups at a fixed rate (300/s), before and after");
    expect(out).toContain(
      "| validate | before (own process) (all rounds disturbed) | 300/s | 1.50 ms | 3.00 ms | 0 | 0 | 0.750 ms | 0.400 ms | 1.50× |\n" +
        "| validate | this | 300/s | 1.50 ms | 3.00 ms | 0 | 0 | 0.300 ms | 0.200 ms | 0.75× |\n" +
        "| level-up | before (own process) | 300/s | 1.50 ms | 3.00 ms | 0 | 0 | 0.500 ms | 0.600 ms | 1.00× |\n" +
        "| level-up | this | 300/s | 1.50 ms | 3.00 ms | 0 | 0 | 0.400 ms | 0.500 ms | 1.00× |",
    );
    expect(out).toContain("API CPU per validate, before → this build: 0.750 ms → 0.300 ms (-60%).");
    expect(out).toContain("API CPU per level-up, before → this build: 0.500 ms → 0.400 ms (-20%).");
  });

  it("gives this build's rows alone without a before build, and nothing without a validate-rate run", () => {
    const out = renderReadRate(
      results([rateRun("level-up-rate", false, 0.4, 0.5), rateRun("validate-rate", false, 0.3, 0.2)]),
    ).join("\n");
    expect(out).toContain("## Reads and level-ups at a fixed rate (300/s)\n");
    expect(out).not.toContain("before");
    expect(renderReadRate(results([rateRun("level-up-rate", false, 0.4, 0.5)]))).toEqual([]);
  });
});
