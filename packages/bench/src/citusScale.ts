import { citusNodes } from "./citusBench.ts";
import { CpuQuotaGroup, cpuQuotaSupport } from "./cpu/CpuQuotaGroup.ts";

/** A bench cluster whose every PostgreSQL node runs under the same CPU quota. */
export interface QuotaCluster {
  /** The coordinator's URL of the bench database. */
  url: string;
  workers: number;
  /** Cores each node may use (the CFS quota), or undefined when quotas could not be set (`skipped` says why). */
  coresPerNode: number | undefined;
  skipped?: string;
  /** One quota group per node, coordinator first, for its throttling counters. */
  groups: CpuQuotaGroup[];
  stop(): Promise<void>;
}

/**
 * A Citus coordinator and `workers` workers for the scale bench (issue 21):
 * started from the installed PostgreSQL with fsync on, one database
 * `coupler_bench` on every node, and every node's postmaster with its
 * backends in a cgroup of its own holding it to `coresPerNode` of CPU, as if
 * each were a small machine. Where cgroups are not writable the cluster runs
 * without quotas and `skipped` says why (the caller prints it and skips the
 * scale rows). Throws when Citus is not installed.
 */
export async function startQuotaCluster(workers: number, coresPerNode: number): Promise<QuotaCluster> {
  const { citusAvailability, startCitusCluster } = await import("@coupler/testing");
  const availability = citusAvailability();
  if (!availability.available) throw new Error(`the scale bench needs the citus extension: ${availability.reason}`);
  const cluster = await startCitusCluster({ workers, durable: true });
  const groups: CpuQuotaGroup[] = [];
  const stop = async () => {
    for (const g of groups) await g.remove().catch(() => {});
    await cluster.stop();
  };
  try {
    const database = await cluster.createDatabase("coupler_bench");
    const support = await cpuQuotaSupport();
    if (!support.supported)
      return { url: database.url, workers, coresPerNode: undefined, skipped: support.reason, groups, stop };
    const { postmasterPids } = await citusNodes(database.url);
    for (const [i, pid] of postmasterPids.entries()) {
      const group = await CpuQuotaGroup.create(`coupler-bench-${process.pid}-node${i}`, coresPerNode);
      groups.push(group);
      await group.add(pid);
    }
    return { url: database.url, workers, coresPerNode, groups, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
