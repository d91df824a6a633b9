import { access, mkdir, readFile, rmdir, writeFile } from "node:fs/promises";
import { constants } from "node:fs";
import { join } from "node:path";
import { readAllPidStats } from "./processCpu.ts";

/** The cgroup v1 `cpu` hierarchy's mount point (cgroup v2's `cpu.max` is not handled: this box mounts v1). */
const CPU_ROOT = "/sys/fs/cgroup/cpu";
/** The cgroup v1 `cpuacct` hierarchy, mounted apart from `cpu` here (where they share one, `cpu` holds cpuacct.usage). */
const CPUACCT_ROOT = "/sys/fs/cgroup/cpuacct";
/** CFS period the quota is a share of, in µs (the kernel's default). */
const PERIOD_US = 100_000;

export type CpuQuotaSupport = { supported: true; root: string } | { supported: false; reason: string };

/** Whether CPU quotas can be set here: a writable cgroup v1 `cpu` hierarchy (root, as in the bench's container). */
export async function cpuQuotaSupport(root = CPU_ROOT): Promise<CpuQuotaSupport> {
  try {
    await access(join(root, "cpu.cfs_quota_us"), constants.R_OK);
    await access(join(root, "cgroup.procs"), constants.W_OK);
    return { supported: true, root };
  } catch (error) {
    return {
      supported: false,
      reason: `no writable cgroup v1 cpu hierarchy at ${root} (${(error as NodeJS.ErrnoException).code ?? String(error)}); run as root where /sys/fs/cgroup/cpu is mounted`,
    };
  }
}

/**
 * A cgroup v1 `cpu` group with a CFS quota: every process in it together
 * gets at most `cores` of CPU time per period (0.25: a quarter of one core),
 * as if it were a small machine of its own. For holding each PostgreSQL
 * node of a bench cluster to the same quota.
 */
export class CpuQuotaGroup {
  private constructor(
    readonly path: string,
    private readonly root: string,
    readonly cores: number,
    /** The same group in a separate cpuacct hierarchy, when there is one: its processes' CPU is counted there. */
    private readonly accounting: { path: string; root: string } | undefined,
  ) {}

  /**
   * Creates (or reuses) group `name` under `root` with quota `cores` (> 0),
   * and a group of the same name in the cpuacct hierarchy when that is
   * mounted apart (`accountingRoot`), so `usageFile` can count its CPU.
   * Throws RangeError for a bad `cores`, and the file system's error where
   * cgroups are not writable (check `cpuQuotaSupport` first).
   */
  static async create(
    name: string,
    cores: number,
    root = CPU_ROOT,
    accountingRoot = CPUACCT_ROOT,
  ): Promise<CpuQuotaGroup> {
    if (!(cores > 0) || !/^[\w.-]+$/.test(name)) throw new RangeError(`bad CPU quota group ${name} / ${cores}`);
    const path = join(root, name);
    await mkdir(path, { recursive: true });
    await writeFile(join(path, "cpu.cfs_period_us"), String(PERIOD_US));
    await writeFile(join(path, "cpu.cfs_quota_us"), String(Math.round(cores * PERIOD_US)));
    const separate =
      accountingRoot !== root &&
      (await access(join(root, "cpuacct.usage")).then(
        () => false,
        () =>
          access(join(accountingRoot, "cgroup.procs"), constants.W_OK).then(
            () => true,
            () => false,
          ),
      ));
    if (separate) await mkdir(join(accountingRoot, name), { recursive: true });
    return new CpuQuotaGroup(
      path,
      root,
      cores,
      separate ? { path: join(accountingRoot, name), root: accountingRoot } : undefined,
    );
  }

  /**
   * The group's cpuacct.usage: CPU nanoseconds every process that was ever
   * in it used while there, exited ones included (the kernel's count, so no
   * race with processes coming and going). Undefined where neither hierarchy
   * has one.
   */
  async usageFile(): Promise<string | undefined> {
    for (const dir of [this.path, this.accounting?.path])
      if (
        dir &&
        (await access(join(dir, "cpuacct.usage")).then(
          () => true,
          () => false,
        ))
      )
        return join(dir, "cpuacct.usage");
    return undefined;
  }

  /**
   * Moves process `pid` and all its live descendants into the group (a
   * postmaster and its backends; backends forked later inherit the group).
   * Returns how many processes moved.
   */
  async add(pid: number): Promise<number> {
    const stats = await readAllPidStats();
    const tree = new Set([pid]);
    for (let grew = true; grew;) {
      grew = false;
      for (const s of stats)
        if (tree.has(s.ppid) && !tree.has(s.pid)) {
          tree.add(s.pid);
          grew = true;
        }
    }
    let moved = 0;
    for (const p of tree) {
      // A backend may exit between the scan and the write (ESRCH): it no longer needs moving.
      const move = (dir: string) =>
        writeFile(join(dir, "cgroup.procs"), String(p)).then(
          () => true,
          (error: NodeJS.ErrnoException) => {
            if (error.code !== "ESRCH") throw error;
            return false;
          },
        );
      if (await move(this.path)) moved++;
      if (this.accounting) await move(this.accounting.path);
    }
    return moved;
  }

  /** The processes in the group now. */
  async pids(): Promise<number[]> {
    const text = await readFile(join(this.path, "cgroup.procs"), "utf8");
    return text.split("\n").filter(Boolean).map(Number);
  }

  /** Periods the group ran out of quota, and how long it waited in all (cpu.stat's nr_throttled, throttled_time in ns). */
  async throttling(): Promise<{ periods: number; throttledPeriods: number; throttledNs: number }> {
    const text = await readFile(join(this.path, "cpu.stat"), "utf8");
    const value = (key: string) => Number(new RegExp(`^${key} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
    return {
      periods: value("nr_periods"),
      throttledPeriods: value("nr_throttled"),
      throttledNs: value("throttled_time"),
    };
  }

  /** Moves every process back to the root group and removes the group (in both hierarchies). Idempotent. */
  async remove(): Promise<void> {
    for (const { path, root } of [
      { path: this.path, root: this.root },
      ...(this.accounting ? [this.accounting] : []),
    ]) {
      // A process forked inside the group while the others were moved out (a postmaster's new backend) keeps
      // it busy: read and move again until rmdir succeeds, a few times at most.
      for (let attempt = 1; ; attempt++) {
        const text = await readFile(join(path, "cgroup.procs"), "utf8").catch(() => "");
        for (const p of text.split("\n").filter(Boolean))
          await writeFile(join(root, "cgroup.procs"), p).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== "ESRCH") throw error;
          });
        const removed = await rmdir(path).then(
          () => true,
          (error: NodeJS.ErrnoException) => {
            if (error.code === "ENOENT") return true;
            if (error.code === "EBUSY" && attempt < 10) return false;
            throw error;
          },
        );
        if (removed) break;
      }
    }
  }
}
