import { adminQuery, withDatabase } from "@coupler/embedded";
import { startBenchEnvironment, type BenchEnvironment, type BenchTools } from "../benchEnvironment.ts";
import { CpuQuotaGroup, cpuQuotaSupport } from "../cpu/CpuQuotaGroup.ts";
import type { BenchPlan } from "../plan.ts";
import type { Progress } from "../progress.ts";
import type { ScaleInfo, ScaleSetupInfo } from "./scaleInfo.ts";
import { setupName, type ScalePlan, type ScaleRoute, type ScaleSetupKey } from "./scalePlan.ts";

const DATABASE = "coupler_bench";

/** Every setup of a scale bench, started, seeded and held to its quota. */
export interface ScaleSetups {
  /** The environment a run's setup runs in; throws for a setup that was not started. */
  environmentFor(key: ScaleSetupKey): BenchEnvironment;
  environments: BenchEnvironment[];
  info: ScaleInfo;
  /** Stops everything in reverse order: quotas lifted, API processes and pools, then the servers. */
  close(): Promise<void>;
}

/**
 * Why the scale bench cannot run here, or undefined when it can: it needs
 * the citus extension in the installed PostgreSQL (it starts its own
 * clusters) and a writable cgroup v1 cpu hierarchy for the quotas
 * (`cpuRoot`, default /sys/fs/cgroup/cpu).
 */
export async function scaleUnsupported(cpuRoot?: string): Promise<string | undefined> {
  const { citusAvailability } = await import("@coupler/testing");
  const citus = citusAvailability();
  if (!citus.available) return `no Citus here: ${citus.reason}`;
  if (citus.bindir === undefined)
    return "CITUS_URL names a running cluster, but the scale bench starts clusters of its own sizes (unset CITUS_URL)";
  const quota = await cpuQuotaSupport(cpuRoot);
  if (!quota.supported) return `CPU quotas cannot be set: ${quota.reason}`;
  return undefined;
}

/**
 * Starts the scale bench's setups from the installed PostgreSQL, fsync on:
 * one plain server (no Citus) and, per worker count, a coordinator with that
 * many workers. Each is migrated (distributed on Citus) and seeded by a
 * bench environment with one API process of its own: the plain server's,
 * and on each cluster one with `COUPLER_CITUS_ROUTE=direct` and one with
 * `coordinator`, each on learners of its own. Only then is every node's
 * postmaster tree put in a cgroup of its own holding it to
 * `scale.nodeCores` (set-up and seeding run unthrottled; backends forked
 * later inherit the group). On a failure part-way, tears down what it
 * started and rethrows.
 */
export async function startScaleSetups(
  plan: BenchPlan,
  scale: ScalePlan,
  tools: BenchTools,
  progress: Progress,
): Promise<ScaleSetups> {
  const { startCitusCluster, startPlainPostgres } = await import("@coupler/testing");
  const cleanup: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
  };
  const environments = new Map<string, BenchEnvironment>();
  const setups: ScaleSetupInfo[] = [];
  /** Each setup's environments (its routes), by worker count: they share its nodes. */
  const byWorkers = new Map<number, BenchEnvironment[]>();
  const environment = async (url: string, key: ScaleSetupKey) => {
    const citus = key.route !== "server";
    const routeEnv = citus ? { COUPLER_CITUS_ROUTE: key.route, COUPLER_CITUS_POOL_SIZE: String(plan.poolSize) } : {};
    progress.info(`setting up ${setupName(key)}`);
    const started = await startBenchEnvironment(
      { ...plan, citus },
      { ...tools, env: { ...tools.env, DATABASE_URL: url }, inherited: { ...tools.inherited, ...routeEnv } },
      progress,
      false,
    );
    cleanup.push(() => started.close());
    environments.set(setupName(key), started);
    byWorkers.set(key.workers, [...(byWorkers.get(key.workers) ?? []), started]);
    return started;
  };
  try {
    progress.info("starting one plain PostgreSQL (the same binaries, no Citus), fsync on");
    const plain = await startPlainPostgres({ durable: true });
    cleanup.push(() => plain.stop());
    await adminQuery(plain.adminUrl, `CREATE DATABASE ${DATABASE}`);
    const plainEnv = await environment(withDatabase(plain.adminUrl, DATABASE), { workers: 0, route: "server" });
    setups.push({
      workers: 0,
      nodes: [
        { name: "server", address: new URL(plain.adminUrl).host, postmasterPid: plainEnv.setup.postmasterPid ?? null },
      ],
    });
    for (const workers of scale.workers) {
      progress.info(`starting a Citus coordinator and ${workers} worker(s), fsync on`);
      const cluster = await startCitusCluster({ workers, durable: true });
      cleanup.push(() => cluster.stop());
      const { url } = await cluster.createDatabase(DATABASE);
      let nodes: { workers: string[]; postmasterPids: number[] } | undefined;
      for (const route of ["direct", "coordinator"] as const satisfies ScaleRoute[])
        nodes = (await environment(url, { workers, route })).setup.citus;
      const addresses = [`${cluster.coordinator.host}:${cluster.coordinator.port}`, ...(nodes?.workers ?? [])];
      setups.push({
        workers,
        nodes: addresses.map((address, i) => ({
          name: i === 0 ? "coordinator" : `worker${i}`,
          address,
          postmasterPid: nodes?.postmasterPids[i] ?? null,
        })),
      });
    }
    let countedByCgroup = 0;
    for (const setup of setups) {
      const usage: (string | undefined)[] = [];
      for (const node of setup.nodes) {
        if (node.postmasterPid === null)
          throw new Error(
            `no postmaster found for ${node.name} of the ${setup.workers}-worker setup: cannot hold it to a quota`,
          );
        const group = await CpuQuotaGroup.create(
          `coupler-bench-${process.pid}-w${setup.workers}-${node.name}`,
          scale.nodeCores,
        );
        cleanup.push(() => group.remove());
        await group.add(node.postmasterPid);
        usage.push(await group.usageFile());
      }
      // The kernel's count of each node's CPU, where cpuacct is there: no race with backends that come and go.
      const files = usage.filter((f) => f !== undefined);
      if (files.length === usage.length) {
        countedByCgroup++;
        for (const env of byWorkers.get(setup.workers) ?? [])
          env.postgresCpu = { postgres: { cgroupUsage: files, ticksPerSecond: env.ticksPerSecond } };
      }
    }
    const nodeCpu = countedByCgroup === setups.length ? "cpuacct" : "proc";
    progress.info(
      `every PostgreSQL node held to ${scale.nodeCores} core(s) by a cgroup of its own; its CPU read from ${nodeCpu === "cpuacct" ? "the cgroup's cpuacct.usage" : "its process tree in /proc"}`,
    );
    return {
      environmentFor(key) {
        const found = environments.get(setupName(key));
        if (!found) throw new Error(`the scale bench has no setup ${setupName(key)}`);
        return found;
      },
      environments: [...environments.values()],
      info: {
        nodeCores: scale.nodeCores,
        nodeCpu,
        setups,
        pools: { apiProcesses: plan.apiProcesses, coordinator: plan.poolSize, perWorker: plan.poolSize },
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
