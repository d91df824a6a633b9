import type { CitusRoute } from "@coupler/core";
import type { RunningPostgres } from "@coupler/embedded";
import type { CitusChaosCluster } from "./citusTarget.ts";
import type { ChaosDriver } from "./drivers.ts";
import { DEFAULT_FAULT_RATES, type FaultRates } from "./faults.ts";

/** What one chaos run does: its modes, workload, faults and where it runs (see runChaos). */
export type ChaosMode = "coupler" | "legacy" | "http";

export interface ChaosOptions {
  seed: number;
  /** Concurrent clients. */
  clients: number;
  /** Operations per mode, split evenly over the rounds. */
  ops: number;
  /** Wall-clock budget per mode in ms, split evenly over the rounds. */
  durationMs: number;
  rounds: number;
  /** Hot learners; each is enrolled in every specialization listed. */
  learners: number;
  specializations: string[];
  modes: ChaosMode[];
  faults: FaultRates;
  /** Superuser URL of an existing server; omitted = a private embedded server (which may be restarted). */
  adminUrl?: string | undefined;
  /** Restart the database during rounds (embedded server only; on Citus, one worker). */
  restart: boolean;
  /** Run on this Citus cluster instead: each mode gets a database distributed as `db:migrate --citus` does, and the faults reach the workers. */
  citus?: CitusChaosCluster | undefined;
  /**
   * Citus only: grow the cluster during each mode (growCluster.ts): add the
   * first spare node, rebalance, drain the first original worker, remove it.
   * The last round runs on until the growth is done. Worker restarts are off.
   */
  grow?: boolean;
  /**
   * How the coupler reaches a learner's shard on Citus (default "direct"):
   * "direct" runs each learner's calls on the worker that holds its shard (a
   * CitusRouter in process, COUPLER_CITUS_ROUTE=direct for the API);
   * "coordinator" sends them all through the coordinator.
   */
  route?: CitusRoute;
  /**
   * Citus without `grow`: move a hot learner's shard group to the other
   * worker 40% into each mode (citus_move_shard_placement, from the highest
   * group to the lowest, moveShard.ts); default true.
   */
  moveShard?: boolean;
  /** Citus: shards per distributed table (default Citus's citus.shard_count, 32); fewer make a rebalance shorter. */
  shards?: number;
  /** Pause between mid-round snapshot checks. */
  snapshotIntervalMs: number;
  /** Reaches the HTTP API for the `http` mode (see httpMode.ts). */
  http?: HttpTarget | undefined;
  log?: (line: string) => void;
}

/** Starts the API against a database (on Citus, routed `citusRoute`) and gives back a driver for it. */
export interface HttpTarget {
  start(
    databaseUrl: string,
    server: RunningPostgres | undefined,
    citusRoute?: CitusRoute,
  ): Promise<{
    driver: ChaosDriver;
    victimApplicationName: string;
    /** The API's own count of Citus route misses and worker map changes (its /metrics). */
    routing(): Promise<{ routeMisses: number; mapChanges: number }>;
    close(): Promise<void>;
  }>;
}

export const DEFAULT_OPTIONS: ChaosOptions = {
  seed: 1,
  clients: 8,
  ops: 40_000,
  durationMs: 90_000,
  rounds: 3,
  learners: 3,
  specializations: ["PLAYER", "INTERNSHIP"],
  modes: ["coupler", "legacy"],
  faults: DEFAULT_FAULT_RATES,
  restart: true,
  snapshotIntervalMs: 500,
};
