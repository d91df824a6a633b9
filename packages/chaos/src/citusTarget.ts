import { distributeOnCitus, migrate } from "@coupler/core";
import pg from "pg";
import type { GrowthNode } from "./growCluster.ts";
import type { Random } from "./random.ts";

/** A Citus cluster chaos can run on: fresh databases on every node, and the workers' servers to restart. */
export interface CitusChaosCluster {
  createDatabase(): Promise<{ name: string; url: string; workerUrls: string[]; drop(): Promise<void> }>;
  workers: (GrowthNode & { restart?(): Promise<void> })[];
  /** Nodes not registered yet, for `--grow` to add. */
  spares?: GrowthNode[];
}

/** What the fault injector needs to reach the workers of one chaos database. */
export interface CitusFaultTargets {
  /** Terminates a random busy backend on a random worker (a connection the coordinator opened for the workload); the worker's name, or undefined when none was busy. */
  killWorkerBackend(random: Random): Promise<string | undefined>;
  /** Restarts one worker's server as after a crash (immediate shutdown, then start). */
  restartWorker(random: Random): Promise<string>;
  close(): Promise<void>;
}

/**
 * A fresh database on the cluster, migrated and distributed as
 * `pnpm db:migrate --citus` does, with the fault targets on its workers.
 * Throws when the cluster's workers cannot be restarted by this process
 * (a CITUS_URL cluster): the run needs one worker restart per round.
 */
export async function citusChaosDatabase(cluster: CitusChaosCluster, restarts: boolean) {
  if (restarts && cluster.workers.some((w) => !w.restart)) {
    throw new Error(
      "chaos --citus restarts a worker each round; this cluster's workers were not started here (use --no-restart)",
    );
  }
  const database = await cluster.createDatabase();
  await migrate(database.url);
  await distributeOnCitus(database.url);
  const pools = database.workerUrls.map(
    (url) => new pg.Pool({ connectionString: url, max: 2, application_name: "coupler-chaos-admin" }),
  );
  for (const pool of pools) pool.on("error", () => {});
  const targets: CitusFaultTargets = {
    async killWorkerBackend(random) {
      const at = random.int(0, pools.length - 1);
      const pool = pools[at];
      if (!pool) return undefined;
      // Backends the coordinator opened in this database; the workers' own (maintenance daemon, admin) are spared.
      // Busy ones first (inside a transaction); else any, a connection the coordinator keeps cached.
      const { rows } = await pool.query<{ pid: number; busy: boolean }>(
        `select pid, state <> 'idle' as busy from pg_stat_activity
         where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()
           and application_name <> 'coupler-chaos-admin'`,
      );
      const busy = rows.filter((r) => r.busy);
      const victims = busy.length > 0 ? busy : rows;
      if (victims.length === 0) return undefined;
      await pool.query("select pg_terminate_backend($1::int)", [random.pick(victims).pid]);
      return cluster.workers[at]?.name;
    },
    async restartWorker(random) {
      const worker = cluster.workers[random.int(0, cluster.workers.length - 1)];
      if (!worker?.restart) throw new Error("worker cannot be restarted");
      await worker.restart();
      return worker.name;
    },
    close: async () => {
      await Promise.all(pools.map((p) => p.end().catch(() => {})));
    },
  };
  return { ...database, targets };
}
