import { CITUS_LAYOUT } from "@coupler/core";
import { adminQuery, withDatabase } from "@coupler/embedded";
import type pg from "pg";
import type { Violation } from "./checker.ts";
import { retryStep, sleep } from "./retryStep.ts";

/** A node of the cluster as growth needs it: where to reach it, and its `postgres` database for CREATE DATABASE. */
export interface GrowthNode {
  name: string;
  adminUrl: string;
  host: string;
  port: number;
}

export interface GrowthPlan {
  /** The unregistered node to add (it gets the database and the citus extension first). */
  spare: GrowthNode;
  /** The original worker to drain and remove afterwards. */
  drain: GrowthNode;
  /** Pause after the workload starts before adding the node, in ms. */
  startAfterMs: number;
  /** Bound on the rebalance and on the drain, each, in ms. */
  timeoutMs: number;
  log: (line: string) => void;
}

/** What the growth did, with its timestamps on the run's performance.now() clock (ms). */
export interface GrowthReport {
  added: string;
  removed: string;
  /** Shard moves the rebalancer ran (its background tasks), and the shard groups the drain moved off the node. */
  rebalanceMoves: number;
  drainMoves: number;
  rebalanceMs: number;
  drainMs: number;
  startedAt: number;
  endedAt: number;
  /** Failed attempts of a step that a retry then completed. */
  stepFailures: string[];
  /** Set when a step failed for good; the run reports it as a violation. */
  error?: string;
}

/**
 * Grows a Citus database while the workload runs, with Citus's own functions
 * only, as deploy/README.md's runbooks do: `citus_add_node` for the spare,
 * `citus_rebalance_start` polled until its job is finished, then
 * `citus_drain_node` on one original worker, `citus_cleanup_orphaned_resources`
 * and `citus_remove_node`. `admin` is a pool on the
 * coordinator's database `database`. Never throws: a failed step ends the
 * growth and lands in `error`.
 */
export async function growCluster(admin: pg.Pool, database: string, plan: GrowthPlan): Promise<GrowthReport> {
  const { spare, drain, log } = plan;
  await sleep(plan.startAfterMs);
  const report: GrowthReport = {
    added: `${spare.host}:${spare.port}`,
    removed: `${drain.host}:${drain.port}`,
    rebalanceMoves: 0,
    drainMoves: 0,
    rebalanceMs: 0,
    drainMs: 0,
    startedAt: performance.now(),
    endedAt: 0,
    stepFailures: [],
  };
  // Each step is safe to repeat, as an operator would: citus_add_node returns the node already added,
  // a new citus_rebalance_start plans only the moves still missing, and so do citus_drain_node and citus_remove_node.
  const step = <T>(name: string, run: () => Promise<T>): Promise<T> =>
    retryStep(name, run, {
      attempts: STEP_ATTEMPTS,
      onRetry: (message) => {
        report.stepFailures.push(message);
        log(`  growth: ${message}; retrying`);
      },
    });
  try {
    // Citus does not create databases on a new node by itself.
    await adminQuery(spare.adminUrl, `CREATE DATABASE ${database}`);
    await adminQuery(withDatabase(spare.adminUrl, database), "CREATE EXTENSION citus");
    await step("citus_add_node", () => admin.query("select citus_add_node($1, $2)", [spare.host, spare.port]));
    log(`  growth: added ${spare.name} (${report.added}); rebalancing`);
    let started = performance.now();
    const job = await step("citus_rebalance_start", async () => {
      try {
        const { rows } = await admin.query<{ job: string | null }>("select citus_rebalance_start() as job");
        return rows[0]?.job ?? undefined;
      } catch (error) {
        // An earlier attempt started the job and then lost its answer: wait for that one.
        const running = /already running as job (\d+)/.exec(error instanceof Error ? error.message : "");
        if (running?.[1]) return running[1];
        throw error;
      }
    });
    if (job) {
      await step("wait for the rebalance", () => waitForJob(admin, job, plan.timeoutMs));
      const tasks = await admin.query<{ n: number }>(
        "select count(*)::int as n from pg_dist_background_task where job_id = $1 and command like '%citus_move_shard_placement%'",
        [job],
      );
      report.rebalanceMoves = tasks.rows[0]?.n ?? 0;
    }
    report.rebalanceMs = Math.round(performance.now() - started);
    log(
      `  growth: rebalance finished, ${report.rebalanceMoves} move(s) in ${report.rebalanceMs} ms; draining ${drain.name}`,
    );
    report.drainMoves = await shardGroupsOn(admin, drain);
    started = performance.now();
    // citus_drain_node blocks until every move is done: bounded by its own session's statement_timeout.
    await step("citus_drain_node", async () => {
      const client = await admin.connect();
      try {
        await client.query(`set statement_timeout = ${Math.floor(plan.timeoutMs)}`);
        await client.query("select citus_drain_node($1, $2)", [drain.host, drain.port]);
      } finally {
        client.release(true);
      }
    });
    report.drainMs = Math.round(performance.now() - started);
    // As deploy/README.md says: the moves' old copies dropped before the node leaves, or a later move of one
    // of those shards fails for good ("orphaned shard … could not be cleaned up").
    await step("citus_cleanup_orphaned_resources", async () => {
      await admin.query("call citus_cleanup_orphaned_resources()");
      const { rows } = await admin.query<{ n: number }>(
        `select count(*)::int as n from pg_dist_cleanup
         where node_group_id = (select groupid from pg_dist_node where nodename = $1 and nodeport = $2)`,
        [drain.host, drain.port],
      );
      if ((rows[0]?.n ?? 0) > 0) throw new Error(`${rows[0]?.n} old shard copies still to drop on ${drain.name}`);
    });
    await step("citus_remove_node", () => admin.query("select citus_remove_node($1, $2)", [drain.host, drain.port]));
    log(`  growth: drained ${drain.name} (${report.drainMoves} shard group(s) in ${report.drainMs} ms) and removed it`);
  } catch (error) {
    report.error = error instanceof Error ? error.message : String(error);
    log(`  growth failed: ${report.error}`);
  }
  report.endedAt = performance.now();
  return report;
}

const STEP_ATTEMPTS = 6;

/**
 * Polls the job's state until it is finished; throws when it failed, was
 * cancelled or ran past `timeoutMs`. Reads `pg_dist_background_job`, the
 * table behind `citus_rebalance_status()`: that function also sizes every
 * shard over connections to the workers, and fails when the chaos kills one.
 */
async function waitForJob(admin: pg.Pool, job: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await admin.query<{ state: string }>(
      "select state::text from pg_dist_background_job where job_id = $1",
      [job],
    );
    const state = rows[0]?.state ?? "unknown";
    if (state === "finished") return;
    if (["failed", "cancelled", "cancelling", "failing"].includes(state))
      throw new Error(`rebalance job ${job} ended ${state}`);
    if (Date.now() > deadline) throw new Error(`rebalance job ${job} still ${state} after ${timeoutMs} ms`);
    await sleep(250);
  }
}

/** Shard groups with a placement on `node`: the shards there of each co-location group's lead table (`users`, `user_emails`). */
async function shardGroupsOn(admin: pg.Pool, node: GrowthNode): Promise<number> {
  const { rows } = await admin.query<{ n: number }>(
    `select count(*)::int as n from citus_shards
     where nodename = $1 and nodeport = $2 and table_name in ('users'::regclass, 'user_emails'::regclass)`,
    [node.host, node.port],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Every learner's rows on one node: for each learner, the shards holding its
 * id in every table co-located with `users` (Citus's own
 * `get_shard_id_for_distribution_column`) have their placements on one and
 * the same node, and none on `removed`. One violation per learner that is not.
 */
export async function checkLearnersOnOneNode(
  admin: pg.Pool,
  userIds: readonly number[],
  removed: string | undefined,
): Promise<Violation[]> {
  const tables = CITUS_LAYOUT.distributed.map(([table]) => table);
  const { rows } = await admin.query<{ user_id: number; nodes: string[] }>(
    `select u.id as user_id, array_agg(distinct p.nodename || ':' || p.nodeport order by p.nodename || ':' || p.nodeport) as nodes
     from unnest($1::bigint[]) as u(id)
     cross join unnest($2::text[]) as t(name)
     join citus_shards p on p.shardid = get_shard_id_for_distribution_column(t.name::regclass, u.id)
     group by u.id`,
    [userIds, tables],
  );
  return rows.flatMap((row) => {
    const split = row.nodes.length !== 1;
    const onRemoved = removed !== undefined && row.nodes.includes(removed);
    if (!split && !onRemoved) return [];
    return [
      {
        invariant: "LEARNER_ON_ONE_NODE" as const,
        userId: Number(row.user_id),
        specialization: "*",
        detail: `the learner's co-located shards are on ${row.nodes.join(", ")}${onRemoved ? ` (including the removed ${removed})` : ""}`,
        operations: [],
      },
    ];
  });
}
