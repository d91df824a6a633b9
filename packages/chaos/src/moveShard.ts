import { splitAddress } from "@coupler/core";
import type pg from "pg";
import { retryStep, sleep } from "./retryStep.ts";

export interface MovePlan {
  /**
   * The learners one of which moves with its shard group (every table
   * co-located with `users` moves with it): the one on the worker with the
   * highest group id, to the active worker with the lowest.
   */
  userIds: readonly number[];
  /** Pause after the workload starts before the move, in ms. */
  startAfterMs: number;
  /** Bound on one attempt of the move, in ms (the session's statement_timeout). */
  timeoutMs: number;
  /** Runs the move; the chaos run passes one that keeps worker restarts out of its way. */
  exclusive?: <T>(change: () => Promise<T>) => Promise<T>;
  log: (line: string) => void;
}

/** What the move did, with its timestamps on the run's performance.now() clock (ms). */
export interface MoveReport {
  userId: number;
  shardId: string;
  /** `host:port` the shard group left and went to. */
  from: string;
  to: string;
  moveMs: number;
  startedAt: number;
  endedAt: number;
  /** Failed attempts that a retry then completed. */
  stepFailures: string[];
  /** Set when the move failed for good; the run reports it as a violation. */
  error?: string;
}

const ATTEMPTS = 6;

/**
 * Moves the shard group of `plan.userId` to another active worker while the
 * workload runs, with Citus's own `citus_move_shard_placement` and
 * `shard_transfer_mode => 'force_logical'`: the online move, as the
 * rebalancer does it (copy, catch up through logical replication, block the
 * shard's writes briefly for the switch). `admin` is a pool on the
 * coordinator's database. Never throws: a failed move lands in `error`.
 */
export async function moveLearnerShard(admin: pg.Pool, plan: MovePlan): Promise<MoveReport> {
  await sleep(plan.startAfterMs);
  const report: MoveReport = {
    userId: 0,
    shardId: "",
    from: "",
    to: "",
    moveMs: 0,
    startedAt: performance.now(),
    endedAt: 0,
    stepFailures: [],
  };
  const exclusive = plan.exclusive ?? ((change) => change());
  try {
    const source = await highestPlaced(admin, plan.userIds);
    const target = await lowestOtherWorker(admin, source.node);
    Object.assign(report, { userId: source.userId, shardId: source.shardId, from: source.node, to: target });
    plan.log(
      `  moving learner ${source.userId}'s shard group (shard ${source.shardId}) from ${source.node} to ${target}`,
    );
    const started = performance.now();
    await exclusive(() =>
      retryStep("citus_move_shard_placement", () => moveOnce(admin, source, target, plan.timeoutMs), {
        attempts: ATTEMPTS,
        onRetry: (message) => {
          report.stepFailures.push(message);
          plan.log(`  move: ${message}; retrying`);
        },
      }),
    );
    report.moveMs = Math.round(performance.now() - started);
    plan.log(`  moved shard ${source.shardId} to ${target} in ${report.moveMs} ms`);
  } catch (error) {
    report.error = error instanceof Error ? error.message : String(error);
    plan.log(`  move failed: ${report.error}`);
  }
  report.endedAt = performance.now();
  return report;
}

/**
 * One attempt: done at once if an earlier attempt moved the shard and lost
 * its answer; else, after a failed attempt, Citus's cleanup of what it left
 * (a half-copied shard on the target would make the next move fail), then the move.
 */
async function moveOnce(
  admin: pg.Pool,
  source: { shardId: string; node: string },
  target: string,
  timeoutMs: number,
): Promise<void> {
  const now = await placementOf(admin, source.shardId);
  if (now.node === target) return;
  const client = await admin.connect();
  try {
    await client.query(`set statement_timeout = ${Math.floor(timeoutMs)}`);
    await client.query("call citus_cleanup_orphaned_resources()");
    const [fromHost, fromPort] = splitAddress(source.node);
    const [toHost, toPort] = splitAddress(target);
    await client.query(
      "select citus_move_shard_placement($1::bigint, $2, $3::int, $4, $5::int, shard_transfer_mode => 'force_logical')",
      [source.shardId, fromHost, fromPort, toHost, toPort],
    );
  } finally {
    client.release(true);
  }
}

/** The node (`host:port`) of the shard `shardId`. */
async function placementOf(admin: pg.Pool, shardId: string): Promise<{ node: string }> {
  const { rows } = await admin.query<{ node: string }>(
    "select nodename || ':' || nodeport as node from citus_shards where shardid = $1::bigint",
    [shardId],
  );
  const row = rows[0];
  if (!row) throw new Error(`no placement for shard ${shardId}`);
  return row;
}

/**
 * Of `userIds`, the learner on the worker with the highest group id, with its
 * `users` shard and node. Moving it to a lower group is the harder move: its
 * new rows draw ids from the lower node's sequence range, which once broke
 * the order of a learner's history (SCALING.md, "Ids from worker sequences").
 */
async function highestPlaced(
  admin: pg.Pool,
  userIds: readonly number[],
): Promise<{ userId: number; shardId: string; node: string }> {
  const { rows } = await admin.query<{ user_id: string; shardid: string; node: string }>(
    `select u.id::text as user_id, s.shardid::text, s.nodename || ':' || s.nodeport as node
     from unnest($1::bigint[]) as u(id)
     join citus_shards s on s.shardid = get_shard_id_for_distribution_column('users', u.id)
     join pg_dist_node n on n.nodename = s.nodename and n.nodeport = s.nodeport
     order by n.groupid desc, u.id limit 1`,
    [userIds],
  );
  const row = rows[0];
  if (!row) throw new Error("no placement for any of the learners");
  return { userId: Number(row.user_id), shardId: row.shardid, node: row.node };
}

/** The active worker with the lowest group id other than `node`. */
async function lowestOtherWorker(admin: pg.Pool, node: string): Promise<string> {
  const { rows } = await admin.query<{ node: string }>(
    `select nodename || ':' || nodeport as node from pg_dist_node
     where groupid <> 0 and isactive and noderole = 'primary' and shouldhaveshards
       and nodename || ':' || nodeport <> $1 order by groupid limit 1`,
    [node],
  );
  const row = rows[0];
  if (!row) throw new Error(`no other active worker to move a shard to from ${node}`);
  return row.node;
}
