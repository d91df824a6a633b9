/** What a scale bench ran on, as its summary.json records it beside the runs. */
export interface ScaleInfo {
  /** CPU quota of every PostgreSQL node, in cores (a cgroup v1 CFS quota over a 100 ms period). */
  nodeCores: number;
  /** Why no scale run was made (no Citus, cgroups not writable); absent when they were made. */
  skipped?: string;
  /**
   * Where each node's CPU was read: `cpuacct` the kernel's count for its
   * cgroup (cpuacct.usage), `proc` its postmaster's process tree in /proc.
   */
  nodeCpu?: "cpuacct" | "proc";
  /** Each setup as started: the plain server (workers 0) and a cluster per worker count. */
  setups: ScaleSetupInfo[];
  /**
   * The connections each API process may open: `DB_POOL_SIZE` to the server
   * or coordinator, and under direct routing `COUPLER_CITUS_POOL_SIZE` to
   * each worker. One API process per setup and route.
   */
  pools: { apiProcesses: number; coordinator: number; perWorker: number };
}

/** One setup's PostgreSQL nodes, coordinator (or the plain server) first, then the workers in pg_dist_node order. */
export interface ScaleSetupInfo {
  workers: number;
  nodes: { name: string; address: string; postmasterPid: number | null }[];
}

/**
 * The connections an API process opens at most under `route`, over all
 * nodes: its coordinator pool, plus a pool per worker under direct routing.
 */
export function apiConnections(
  pools: ScaleInfo["pools"],
  workers: number,
  route: "server" | "direct" | "coordinator",
): number {
  return pools.apiProcesses * (pools.coordinator + (route === "direct" ? workers * pools.perWorker : 0));
}
