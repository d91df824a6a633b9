import type { CpuPart, CpuSnapshot } from "./cpuUsage.ts";

/**
 * How much of the box something outside a run used while it ran: the
 * machine's busy CPU (/proc/stat: user, nice, system, irq, softirq and
 * steal) over the window, minus the processes the run measures (the load
 * generator, the server, PostgreSQL, and the bench's own process). Steal is
 * in the busy time and never in a measured process, so it counts as outside:
 * a hypervisor running other guests takes capacity the run needed.
 */
export interface Disturbance {
  wallSeconds: number;
  /** Cores of the machine (the capacity is cores × wall time). */
  cores: number;
  /** CPU milliseconds over the window: the whole machine, the measured processes, the rest, and steal (part of the rest). */
  machineMs: number;
  measuredMs: number;
  outsideMs: number;
  stealMs: number;
  /** outsideMs / (cores × wall ms): 0.05 is a tenth of one core on a 2-core box. */
  outsideShare: number;
}

/**
 * The disturbance between two snapshots of one run, or undefined when it
 * cannot be told: no /proc/stat, no reading of the bench's own process, or
 * a part the run measures (`parts`) unread at either end (a process that
 * went away, a postmaster not found), which would be miscounted as outside.
 * A part whose server is on another machine is simply not in `parts`: its
 * CPU is not in this machine's /proc/stat either.
 */
export function measureDisturbance(
  start: CpuSnapshot,
  end: CpuSnapshot,
  options: { ticksPerSecond: number; cores: number; parts: readonly Exclude<CpuPart, "machine">[] },
): Disturbance | undefined {
  const delta = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b < a ? undefined : ((b - a) / options.ticksPerSecond) * 1000;
  const machineMs = delta(start.ticks.machine, end.ticks.machine);
  const selfMs = delta(start.self, end.self);
  const stealMs = delta(start.steal, end.steal) ?? 0;
  const wallSeconds = (end.atMs - start.atMs) / 1000;
  if (machineMs === undefined || selfMs === undefined || wallSeconds <= 0 || options.cores <= 0) return undefined;
  let measuredMs = selfMs;
  for (const part of options.parts) {
    const ms = delta(start.ticks[part], end.ticks[part]);
    if (ms === undefined) return undefined;
    measuredMs += ms;
  }
  // Ticks are read per process and for the machine at slightly different instants: a few ms either way is rounding.
  const outsideMs = Math.max(0, machineMs - measuredMs);
  return {
    wallSeconds,
    cores: options.cores,
    machineMs,
    measuredMs,
    outsideMs,
    stealMs,
    outsideShare: outsideMs / (options.cores * wallSeconds * 1000),
  };
}

/** When a run counts as disturbed, and how often it is run again. */
export interface DisturbancePolicy {
  /** Outside share of the box's capacity above which a run is disturbed (0.05 = 5%). */
  maxOutsideShare: number;
  /** How many more times a disturbed run is made before its last attempt is kept, marked disturbed. */
  retries: number;
}

/** Whether `disturbance` passes the policy's threshold; an unmeasured one is not called disturbed (it says unknown). */
export function isDisturbed(disturbance: Disturbance | undefined, policy: DisturbancePolicy): boolean {
  return disturbance !== undefined && disturbance.outsideShare > policy.maxOutsideShare;
}
