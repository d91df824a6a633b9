/**
 * Pure parsers of Linux /proc accounting: /proc/<pid>/stat (one process) and
 * /proc/stat (the machine). Times are in clock ticks (CLK_TCK, usually 100/s).
 */

/** The fields of /proc/<pid>/stat the bench needs (proc(5) numbers them 1-based). */
export interface PidStat {
  pid: number;
  comm: string;
  ppid: number;
  /** Ticks this process ran in user and kernel mode (fields 14, 15). */
  utime: number;
  stime: number;
  /** Ticks of its children that exited and were waited for (fields 16, 17). */
  cutime: number;
  cstime: number;
}

/**
 * Parses one /proc/<pid>/stat line. The command name sits in parentheses and
 * may itself hold spaces and parentheses ("postgres: bench (idle)"), so the
 * fields are counted from the last ")".
 */
export function parsePidStat(line: string): PidStat {
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${line.slice(0, 80)}`);
  // After ")": field 3 (state) is rest[0], so field n is rest[n - 3].
  const rest = line.slice(close + 2).split(" ");
  const field = (n: number) => {
    const value = Number(rest[n - 3]);
    if (!Number.isFinite(value)) throw new Error(`/proc/<pid>/stat field ${n} is not a number: ${line.slice(0, 80)}`);
    return value;
  };
  return {
    pid: Number(line.slice(0, open).trim()),
    comm: line.slice(open + 1, close),
    ppid: field(4),
    utime: field(14),
    stime: field(15),
    cutime: field(16),
    cstime: field(17),
  };
}

/** The machine's CPU time from the aggregate "cpu" line of /proc/stat, in ticks over all cores. */
export interface MachineStat {
  /** Every state but idle and iowait: user, nice, system, irq, softirq, steal. */
  busy: number;
  total: number;
  /** Time a hypervisor ran other guests while this machine's CPUs wanted to run (part of busy). */
  steal: number;
}

/** Parses /proc/stat. Guest time is already counted in user and nice, so it is not added again. */
export function parseMachineStat(text: string): MachineStat {
  const line = text.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("/proc/stat has no aggregate cpu line");
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait, steal };
}
