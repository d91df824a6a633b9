import { execFile } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { parseMachineStat, parsePidStat, type MachineStat, type PidStat } from "./procStat.ts";

const exec = promisify(execFile);

/** Clock ticks per second of /proc's counters (`getconf CLK_TCK`); 100 when getconf is missing. */
export async function clockTicksPerSecond(): Promise<number> {
  const { stdout } = await exec("getconf", ["CLK_TCK"]).catch(() => ({ stdout: "" }));
  const ticks = Number(stdout.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
}

/** Every process's /proc/<pid>/stat; processes that exit while being read are skipped. Empty without /proc. */
export async function readAllPidStats(): Promise<PidStat[]> {
  const entries = await readdir("/proc").catch(() => []);
  const stats = await Promise.all(entries.filter((e) => /^\d+$/.test(e)).map((pid) => readPidStat(Number(pid))));
  return stats.filter((s) => s !== undefined);
}

export async function readPidStat(pid: number): Promise<PidStat | undefined> {
  const line = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  return line === undefined ? undefined : parsePidStat(line);
}

export async function readMachineStat(): Promise<MachineStat | undefined> {
  const text = await readFile("/proc/stat", "utf8").catch(() => undefined);
  return text === undefined ? undefined : parseMachineStat(text);
}

/** A process's own CPU ticks, user and kernel. */
export function ownTicks(stat: PidStat): number {
  return stat.utime + stat.stime;
}

/**
 * CPU ticks of a process tree so far: the root and every live descendant,
 * each with the children it has reaped (cutime, cstime). A PostgreSQL backend
 * that has exited is counted through its postmaster's cutime, so the sum
 * covers backends that came and went between two readings. Undefined when
 * the root is gone.
 */
export function treeTicks(stats: PidStat[], root: number): number | undefined {
  const children = new Map<number, PidStat[]>();
  for (const stat of stats) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat]);
  const rootStat = stats.find((s) => s.pid === root);
  if (!rootStat) return undefined;
  let ticks = 0;
  const pending = [rootStat];
  for (let stat = pending.pop(); stat; stat = pending.pop()) {
    ticks += ownTicks(stat) + stat.cutime + stat.cstime;
    pending.push(...(children.get(stat.pid) ?? []));
  }
  return ticks;
}

/**
 * The postmaster of the server `query` talks to: the parent of this session's
 * backend. Undefined when the server is not on this machine (no such process,
 * or its parent is not a postgres process).
 */
export async function findPostmaster(
  query: (sql: string) => Promise<{ rows: { pid: number }[] }>,
): Promise<number | undefined> {
  const { rows } = await query("select pg_backend_pid() as pid");
  const backend = rows[0] ? await readPidStat(rows[0].pid) : undefined;
  if (!backend || !backend.comm.startsWith("postgres")) return undefined;
  const postmaster = await readPidStat(backend.ppid);
  return postmaster && /postgres|postmaster/.test(postmaster.comm) ? postmaster.pid : undefined;
}
