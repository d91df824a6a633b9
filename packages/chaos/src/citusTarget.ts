import { distributeOnCitus, migrate, nodeUrl } from "@coupler/core";
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

/** A worker backend the kill loop terminated: on which node, and whether the client's own pool opened it (direct routing). */
export interface KilledWorkerBackend {
  node: string;
  /** true: a connection of the workload's own pool (direct routing); false: one the coordinator opened for a workload call. */
  direct: boolean;
}

/** What the fault injector needs to reach the nodes of one chaos database. */
export interface CitusFaultTargets {
  /**
   * Terminates a random backend of the workload (application_name `victim`)
   * on a random active worker, busy ones first; undefined when that worker had none.
   */
  killWorkerBackend(random: Random, victim: string): Promise<KilledWorkerBackend | undefined>;
  /** Terminates backend `pid` on the node at host:port (any node of the cluster, the coordinator included). */
  terminate(node: { host: string; port: number }, pid: number): Promise<void>;
  /** Restarts one worker's server as after a crash (immediate shutdown, then start); never while `exclusive` runs. */
  restartWorker(random: Random): Promise<string>;
  /** Runs `change` (a shard move) while no worker restarts, and no restart starts before it ends. */
  exclusive<T>(change: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Citus's internal connections carry their origin in application_name:
 * `citus_internal gpid=<node id × 10^10 + pid>` (connection_management.h).
 * This names the coordinator's workload backends (application_name =
 * `$1`) as their connections to the workers are named.
 */
const FORWARDED_NAMES = `select 'citus_internal gpid=' || citus_calculate_gpid(citus_nodeid_for_gpid(citus_backend_gpid()), pid) as name
  from pg_stat_activity where datname = current_database() and application_name = $1`;

/**
 * Only the workload's backends on a worker: its own (direct routing) and the
 * ones the coordinator opened for its calls. Never anything else that runs
 * there: a shard move's connections (the copy, the replication slot, the
 * metadata switch; `citus_internal gpid=` of the rebalancer's or the mover's
 * session on the coordinator, 'walsender' and 'logical replication worker'
 * backends), the maintenance daemons' deadlock detection, or an operator.
 * Killing those is not a fault of the system under test: it failed every
 * move of `--grow` (the rebalancer's own copy died and the job ended
 * "failed"), and no real outage picks its victims that way.
 */
const WORKER_VICTIMS = `select pid, state <> 'idle' as busy, application_name = $1 as direct from pg_stat_activity
  where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()
    and (application_name = $1 or application_name = any($2::text[]))`;

const ACTIVE_WORKERS = `select nodename || ':' || nodeport as node from pg_dist_node
  where groupid <> 0 and isactive and noderole = 'primary' order by nodeid`;

/**
 * A fresh database on the cluster, migrated and distributed as
 * `pnpm db:migrate --citus` does (with `shards` shards per table when given,
 * else Citus's citus.shard_count, 32), with the fault targets on its nodes.
 * Throws when the cluster's workers cannot be restarted by this process
 * (a CITUS_URL cluster): the run needs one worker restart per round.
 */
export async function citusChaosDatabase(cluster: CitusChaosCluster, restarts: boolean, shards?: number) {
  if (restarts && cluster.workers.some((w) => !w.restart)) {
    throw new Error(
      "chaos --citus restarts a worker each round; this cluster's workers were not started here (use --no-restart)",
    );
  }
  const database = await cluster.createDatabase();
  await migrate(database.url);
  await distributeOnCitus(shards ? withShardCount(database.url, shards) : database.url);
  // One small admin pool per node (host:port), opened when first needed: the workers change under --grow.
  const pools = new Map<string, pg.Pool>();
  const poolOf = (node: string) => {
    let pool = pools.get(node);
    if (!pool) {
      pool = new pg.Pool({ connectionString: nodeUrl(database.url, node), max: 2, application_name: ADMIN });
      pool.on("error", () => {});
      pools.set(node, pool);
    }
    return pool;
  };
  const coordinator = poolOf(addressOf(database.url));
  let changing: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(change: () => Promise<T>): Promise<T> => {
    const next = changing.then(change, change);
    changing = next.catch(() => {});
    return next;
  };
  const targets: CitusFaultTargets = {
    async killWorkerBackend(random, victim) {
      const workers = (await coordinator.query<{ node: string }>(ACTIVE_WORKERS)).rows.map((r) => r.node);
      if (workers.length === 0) return undefined;
      const node = random.pick(workers);
      const forwarded = (await coordinator.query<{ name: string }>(FORWARDED_NAMES, [victim])).rows.map((r) => r.name);
      const pool = poolOf(node);
      const { rows } = await pool.query<{ pid: number; busy: boolean; direct: boolean }>(WORKER_VICTIMS, [
        victim,
        forwarded,
      ]);
      // Busy ones first (inside a transaction); else any, a connection kept open in a pool.
      const busy = rows.filter((r) => r.busy);
      const victims = busy.length > 0 ? busy : rows;
      if (victims.length === 0) return undefined;
      const chosen = random.pick(victims);
      await pool.query("select pg_terminate_backend($1::int)", [chosen.pid]);
      return { node, direct: chosen.direct };
    },
    async terminate(node, pid) {
      await poolOf(`${node.host}:${node.port}`).query("select pg_terminate_backend($1::int)", [pid]);
    },
    restartWorker(random) {
      return exclusive(async () => {
        const worker = cluster.workers[random.int(0, cluster.workers.length - 1)];
        if (!worker?.restart) throw new Error("worker cannot be restarted");
        await worker.restart();
        return worker.name;
      });
    },
    exclusive,
    close: async () => {
      await Promise.all([...pools.values()].map((p) => p.end().catch(() => {})));
    },
  };
  return { ...database, targets };
}

const ADMIN = "coupler-chaos-admin";

function addressOf(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}`;
}

/** `url` whose sessions create distributed tables with `shards` shards (citus.shard_count, a session setting). */
function withShardCount(url: string, shards: number): string {
  const u = new URL(url);
  u.searchParams.set("options", `-c citus.shard_count=${shards}`);
  return u.toString();
}
