import { describe, expect, it } from "vitest";
import type { GrowthSummary } from "./changeSummary.ts";
import type { ChaosResult, ModeReport } from "./chaosResult.ts";
import { DEFAULT_OPTIONS } from "./chaosOptions.ts";
import { NO_FAULTS } from "./faults.ts";
import { summarizeRun } from "./reliabilityRun.ts";

const faults = {
  killBackend: 2,
  killBeforeBegin: 1,
  killMidTransaction: 1,
  failMidTransaction: 9,
  killBeforeCommit: 1,
  killDuringCommit: 1,
  statementTimeout: 9,
  clientAbort: 9,
  restart: 0,
  killWorkerBackend: 5,
  restartWorker: 1,
  failBetweenLegacyTransactions: 0,
};

const growth: GrowthSummary = {
  added: "127.0.0.1:3",
  removed: "127.0.0.1:1",
  rebalanceMoves: 6,
  drainMoves: 5,
  rebalanceMs: 1_000,
  drainMs: 900,
  stepFailures: [],
  durationMs: 2_000,
  callsDuring: 40,
  attemptErrorsDuring: { UNAVAILABLE: 3, ABORTED: 2, LOCK_TIMEOUT: 1 },
  worstLatencyDuringMs: 700,
  learnersChecked: 10,
};

function modeReport(overrides: Partial<ModeReport>): ModeReport {
  return {
    mode: "coupler",
    database: "chaos",
    rounds: [],
    operations: {
      total: 100,
      ok: 100,
      failed: 0,
      pending: 0,
      attempts: 120,
      byKind: { levelUp: 55, advance: 15, sync: 15, validate: 15 },
    },
    attemptErrors: { UNAVAILABLE: 12, ABORTED: 4, INJECTED: 4 },
    worstLatencyMs: 900,
    faults,
    faultsTotal: 38,
    snapshotsChecked: 3,
    violationCount: 0,
    violations: [],
    integrity: undefined,
    xp: { acknowledged: 500, stored: 500 },
    routing: { route: "direct", routeMisses: 1, mapChanges: 4, workerKillsOfDirectConnections: 5 },
    ...overrides,
  };
}

const result = (modes: ModeReport[]): ChaosResult => ({
  seed: 9,
  startedAt: "2026-12-08T10:00:00.000Z",
  durationMs: 60_000,
  options: { ...DEFAULT_OPTIONS, faults: NO_FAULTS, server: "citus" },
  modes,
  couplerViolations: 0,
});

describe("a chaos run's published summary", () => {
  it("counts the growth's rebalance and drain moves, and what the clients met while the cluster changed", () => {
    const [mode] = summarizeRun(result([modeReport({ growth })]), "pnpm chaos --citus --grow", {
      commit: "abc",
      dirty: false,
    }).modes;
    expect(mode?.moves).toBe(11);
    expect(mode?.duringChange).toEqual({
      durationMs: 2_000,
      calls: 40,
      retryableErrors: { UNAVAILABLE: 3, LOCK_TIMEOUT: 1 },
      worstLatencyMs: 700,
    });
  });

  it("leaves the client's own aborts and injected errors out of the retryable errors", () => {
    const [mode] = summarizeRun(result([modeReport({})]), "pnpm chaos --citus", { commit: null, dirty: null }).modes;
    expect(mode?.retryableErrors).toEqual({ UNAVAILABLE: 12 });
  });

  it("counts no move for a move or a growth that failed", () => {
    const failed = summarizeRun(
      result([modeReport({ growth: { ...growth, error: "rebalance job 1 ended failed" } })]),
      "c",
      {
        commit: null,
        dirty: null,
      },
    );
    expect(failed.modes[0]?.moves).toBe(0);
  });

  it("sums the kills by where they landed: coordinator, workers (the clients' own connections among them), inside a transaction", () => {
    const [mode] = summarizeRun(result([modeReport({})]), "c", { commit: null, dirty: null }).modes;
    expect(mode?.kills).toEqual({ coordinator: 2, workers: 5, workersDirect: 5, inTransaction: 4 });
    expect(mode?.restarts).toBe(1);
  });
});
