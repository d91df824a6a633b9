import { readFile } from "node:fs/promises";
import { ownTicks, readAllPidStats, readMachineStat, treeTicks } from "./processCpu.ts";

/**
 * Who spent the CPU of a run: the load generator (k6, or pgbench's client),
 * the server under test (the API processes, the minimal server, or the raw-pg
 * worker), PostgreSQL (postmaster and every backend), and the whole machine.
 */
export const CPU_PARTS = ["loadGenerator", "server", "postgres", "machine"] as const;
export type CpuPart = (typeof CPU_PARTS)[number];

/** Where one part's ticks are read from. */
export type CpuSource =
  /** Processes that are alive over the whole window (k6, the API processes, a worker). */
  | { pids: number[] }
  /** A process tree (the postmaster and its backends, exited ones included). */
  | { tree: number }
  /** Several process trees, summed: every node of a Citus cluster on this machine. */
  | { trees: number[] }
  /** Children of this process that exited and were reaped (pgbench, run to its end). */
  | { reapedChildren: true }
  /**
   * cgroups' cpuacct.usage files (CPU ns of every process ever in the group),
   * summed: a Citus cluster's nodes each in a group of their own. Read in
   * ticks at `ticksPerSecond`, fractions kept.
   */
  | { cgroupUsage: string[]; ticksPerSecond: number };

/** Cumulative ticks at one instant; undefined where a source could not be read. */
export interface CpuSnapshot {
  atMs: number;
  ticks: Partial<Record<CpuPart, number>>;
  /** The bench's own process (the orchestrator: k6's parent, the metrics scraper), user + kernel ticks. */
  self?: number;
  /** The machine's steal ticks so far (/proc/stat, included in `ticks.machine`). */
  steal?: number;
  /** PostgreSQL read per node (several trees, or cgroups): each node's ticks, in the source's order. */
  postgresNodes?: number[];
}

/** CPU over one measured window, and per call (request or transaction) in it. */
export interface CpuUsage {
  wallSeconds: number;
  /** Calls completed in the window. */
  calls: number;
  /** Machine busy time over wall time: how many cores were busy on average (/proc/stat). */
  coresBusy: number | null;
  /** CPU milliseconds of each part over the window. */
  cpuMs: Record<CpuPart, number | null>;
  /** CPU milliseconds of each part per call. */
  perCallMs: Record<CpuPart, number | null>;
  /**
   * PostgreSQL per node, where it was read as several trees (a Citus
   * cluster: coordinator first, then the workers): CPU ms per call of each.
   */
  perCallNodeMs?: number[];
}

/** Reads every source once: one pass over /proc for all of them. */
export async function cpuSnapshot(
  sources: Partial<Record<Exclude<CpuPart, "machine">, CpuSource>>,
): Promise<CpuSnapshot> {
  // The instant is the machine reading's: busy ticks over wall time must share one clock, and reading
  // every /proc/<pid>/stat can take long on a loaded box.
  const before = performance.now();
  const machine = await readMachineStat();
  const atMs = (before + performance.now()) / 2;
  // cgroup counters first, beside the machine reading: they and /proc/stat are the window's clock.
  const usage = new Map<string, number | undefined>();
  for (const source of Object.values(sources))
    if ("cgroupUsage" in source)
      for (const file of source.cgroupUsage)
        usage.set(
          file,
          await readFile(file, "utf8").then(
            (t) => Number(t.trim()),
            () => undefined,
          ),
        );
  const stats = await readAllPidStats();
  const ticks: CpuSnapshot["ticks"] = {};
  let postgresNodes: number[] | undefined;
  if (machine) ticks.machine = machine.busy;
  const own = stats.find((s) => s.pid === process.pid);
  for (const [part, source] of Object.entries(sources) as [CpuPart, CpuSource][]) {
    let value: number | undefined;
    if ("tree" in source) value = treeTicks(stats, source.tree);
    else if ("trees" in source) {
      const each = source.trees.map((root) => treeTicks(stats, root));
      const read = each.every((t) => t !== undefined) ? (each as number[]) : undefined;
      value = read?.reduce((sum, t) => sum + t, 0);
      if (part === "postgres" && read) postgresNodes = read;
    } else if ("cgroupUsage" in source) {
      const each = source.cgroupUsage.map((file) => usage.get(file));
      const read = each.every((ns) => ns !== undefined && Number.isFinite(ns))
        ? (each as number[]).map((ns) => (ns / 1e9) * source.ticksPerSecond)
        : undefined;
      value = read?.reduce((sum, t) => sum + t, 0);
      if (part === "postgres" && read) postgresNodes = read;
    } else if ("reapedChildren" in source) {
      value = own ? own.cutime + own.cstime : undefined;
    } else {
      const found = source.pids.map((pid) => stats.find((s) => s.pid === pid));
      value = found.every((s) => s !== undefined)
        ? found.reduce((sum, s) => sum + (s ? ownTicks(s) : 0), 0)
        : undefined;
    }
    if (value !== undefined) ticks[part] = value;
  }
  return {
    atMs,
    ticks,
    ...(own ? { self: ownTicks(own) } : {}),
    ...(machine ? { steal: machine.steal } : {}),
    ...(postgresNodes ? { postgresNodes } : {}),
  };
}

/** The CPU between two snapshots, per part and per call. */
export function cpuUsage(start: CpuSnapshot, end: CpuSnapshot, calls: number, ticksPerSecond: number): CpuUsage {
  const wallSeconds = (end.atMs - start.atMs) / 1000;
  const cpuMs = {} as Record<CpuPart, number | null>;
  const perCallMs = {} as Record<CpuPart, number | null>;
  for (const part of CPU_PARTS) {
    const before = start.ticks[part];
    const after = end.ticks[part];
    const ms =
      before === undefined || after === undefined || after < before ? null : ((after - before) / ticksPerSecond) * 1000;
    cpuMs[part] = ms;
    perCallMs[part] = ms === null || calls <= 0 ? null : ms / calls;
  }
  const machineMs = cpuMs.machine;
  const [nodesBefore, nodesAfter] = [start.postgresNodes, end.postgresNodes];
  const perCallNodeMs =
    nodesBefore && nodesAfter && nodesBefore.length === nodesAfter.length && calls > 0
      ? nodesAfter.map((t, i) => (((t - (nodesBefore[i] ?? t)) / ticksPerSecond) * 1000) / calls)
      : undefined;
  return {
    wallSeconds,
    calls,
    coresBusy: machineMs === null || wallSeconds <= 0 ? null : machineMs / 1000 / wallSeconds,
    cpuMs,
    perCallMs,
    ...(perCallNodeMs ? { perCallNodeMs } : {}),
  };
}
