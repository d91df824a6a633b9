/** Scale bench results made up for the report's tests: figures chosen by hand, no run behind them. */
import { FULL_PLAN } from "../plan.ts";
import type { BenchResults, RunResult } from "../results.ts";
import { setupName, type ScaleSetupKey } from "./scalePlan.ts";

/** One round of a setup: level-ups a second (all succeeded unless `failed`), PostgreSQL CPU per call of each node, API CPU per call. */
export interface FixtureRound {
  key: ScaleSetupKey;
  round: number;
  throughput: number;
  nodeMs: number[];
  apiMs?: number;
  failed?: number;
  outsideShare?: number;
  disturbed?: boolean;
  desynced?: number;
}

const STEADY = 30;

export function scaleRound({
  key,
  round,
  throughput,
  nodeMs,
  apiMs = 0.5,
  failed = 0,
  outsideShare = 0.01,
  disturbed = false,
  desynced = 0,
}: FixtureRound): RunResult {
  const requests = throughput * STEADY + failed;
  const calls = requests;
  const postgres = nodeMs.reduce((a, b) => a + b, 0);
  return {
    id: `scale-${setupName(key)}-64`,
    scenario: "saturation",
    target: "coupler",
    vus: 64,
    scale: key,
    operation: "levelUp",
    round,
    k6: {
      latency: {
        count: requests,
        avg: 64_000 / throughput,
        p50: 60_000 / throughput,
        p95: 90_000 / throughput,
        p99: 1,
        max: 1,
      },
      requests,
      throughput: requests / STEADY,
      failed,
      errorRate: failed / requests,
      thresholds: [],
      exitCode: 0,
    },
    cpu: {
      wallSeconds: STEADY,
      calls,
      coresBusy: 1.5,
      cpuMs: { loadGenerator: null, server: apiMs * calls, postgres: postgres * calls, machine: null },
      perCallMs: { loadGenerator: null, server: apiMs, postgres, machine: null },
      ...(key.route === "server" ? {} : { perCallNodeMs: nodeMs }),
    },
    integrity: { desynced, orphans: 0, missingHalves: 0, historyGaps: 0, repaired: 0 },
    disturbance: {
      wallSeconds: STEADY,
      cores: 2,
      machineMs: 0,
      measuredMs: 0,
      outsideMs: outsideShare * 2 * STEADY * 1000,
      stealMs: 0,
      outsideShare,
    },
    disturbed,
  };
}

/** A scale run's results with these rounds, from commit 1a2b3c4d5e6f…, every node at 0.25 core. */
export function scaleResultsFixture(rounds: FixtureRound[], workers = [1, 2, 4]): BenchResults {
  return {
    startedAt: "2026-12-07T17:00:00.000Z",
    finishedAt: "2026-12-07T17:20:00.000Z",
    elapsedSeconds: 1200,
    plan: { ...FULL_PLAN, citus: true, saturationVus: 64, learners: 5_000, scale: { workers, nodeCores: 0.25 } },
    machine: {
      hostname: "box",
      os: "Linux",
      cpuModel: "CPU",
      cores: 2,
      memoryGiB: 24,
      node: "v20.20.2",
      postgres: "PostgreSQL 15.20",
      k6: "k6 v1.3.0",
      pgbench: null,
    },
    setup: { apiProcesses: 1, poolSize: 50, lockTimeoutMs: 2000, fsync: true, database: "citus", rounds: 3 },
    source: { commit: "1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d", dirty: false },
    scale: {
      nodeCores: 0.25,
      nodeCpu: "cpuacct",
      setups: [0, ...workers].map((w) => ({
        workers: w,
        nodes: Array.from({ length: w === 0 ? 1 : w + 1 }, (_, i) => ({
          name: w === 0 ? "server" : i === 0 ? "coordinator" : `worker${i}`,
          address: `127.0.0.1:${9700 + i}`,
          postmasterPid: 100 + i,
        })),
      })),
      pools: { apiProcesses: 1, coordinator: 50, perWorker: 50 },
    },
    runs: rounds.map(scaleRound),
  };
}
