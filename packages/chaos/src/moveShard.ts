import { splitAddress } from "@coupler/core";
import type pg from "pg";
import { retryStep, sleep } from "./retryStep.ts";

export interface MovePlan {
  /** The learner whose shard group moves (every table co-located with `users` moves with it). */
  userId: number;
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
    userId: plan.userId,
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
    const source = await placementOf(admin, plan.userId);
    const target = await otherWorker(admin, source.node);
    Object.assign(report, { shardId: source.shardId, from: source.node, to: target });
    plan.log(
      `  moving learner ${plan.userId}'s shard group (shard ${source.shardId}) from ${source.node} to ${target}`,
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
  const now = await placementOf(admin, undefined, source.shardId);
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

/** The `users` shard holding `userId` (or the shard `shardId`) and its node, `host:port`. */
async function placementOf(
  admin: pg.Pool,
  userId: number | undefined,
  shardId?: string,
): Promise<{ shardId: string; node: string }> {
  const { rows } = await admin.query<{ shardid: string; node: string }>(
    `select shardid::text, nodename || ':' || nodeport as node from citus_shards
     where shardid = coalesce($2::bigint, get_shard_id_for_distribution_column('users', $1::bigint))`,
    [userId ?? null, shardId ?? null],
  );
  const row = rows[0];
  if (!row) throw new Error(`no placement for ${shardId ? `shard ${shardId}` : `learner ${userId}`}`);
  return { shardId: row.shardid, node: row.node };
}

async function otherWorker(admin: pg.Pool, node: string): Promise<string> {
  const { rows } = await admin.query<{ node: string }>(
    `select nodename || ':' || nodeport as node from pg_dist_node
     where groupid <> 0 and isactive and noderole = 'primary' and shouldhaveshards
       and nodename || ':' || nodeport <> $1 order by nodeid limit 1`,
    [node],
  );
  const row = rows[0];
  if (!row) throw new Error(`no other active worker to move a shard to from ${node}`);
  return row.node;
}
