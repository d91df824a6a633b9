import type pg from "pg";
import { CouplerError, NoConnectionError, SqlState, sqlStateOf } from "../errors/index.ts";
import { ShardTables } from "../citus/ShardTables.ts";
import { runStatement, runTransaction, type TransactionOptions } from "../transaction.ts";
import type { CouplerRuntime, OperationContext } from "./CouplerRuntime.ts";
import { lockWaitSlotsFor } from "./LockWaitSlots.ts";
import { PairTransaction } from "./PairTransaction.ts";
import type { LockStats } from "./reportCall.ts";

export const WRITE: TransactionOptions = { isolationLevel: "read committed", accessMode: "read write" };
/**
 * The reads: one statement and no transaction block (`runStatement`), a
 * snapshot of its own; no budget, as a read waits on no row lock.
 */
export const ONE_STATEMENT = "one statement";

/** How an attempt runs: a transaction with these options, or a read's one statement. */
export type AttemptOptions = TransactionOptions | typeof ONE_STATEMENT;

/** One transaction of a learner's call or batch, as `runAttempts` runs it. */
export interface AttemptPlan {
  /** The learner whose rows the transaction touches: it picks the connection (`ConnectionSource.poolFor`). */
  userId: number;
  ctx: OperationContext;
  options: AttemptOptions;
  /** Lock statements fail at once (NOWAIT) instead of waiting. */
  noWait: boolean;
}

/** What the attempts cost, for the observer event: retries, deadlocks and the locks' bookkeeping. */
export interface AttemptStats {
  /** Attempts beyond the first. */
  retries: number;
  /** Deadlocks PostgreSQL reported, retried or not. */
  deadlocks: number;
  locks: LockStats;
}

/**
 * How the attempts ended: the body's value from the attempt that committed,
 * or the error of the last one (as thrown: the caller classifies it) with
 * its SQLSTATE. Never thrown through: every caller gets a result.
 */
export type AttemptResult<T> =
  | { ok: true; value: T; stats: AttemptStats }
  | { ok: false; error: unknown; sqlState: string | undefined; stats: AttemptStats };

/**
 * Runs `body` in one transaction (a read: in its one statement,
 * `ONE_STATEMENT`) on the learner's connection
 * (`rt.connections.poolFor(plan.userId)`, the one place a call gets one),
 * again after a deadlock, a serialization failure or an idempotency-key race
 * (at most `rt.maxRetries` times, after a jittered exponential back-off), and
 * returns how it ended. A lock statement that gave up (lock_timeout, NOWAIT)
 * counts as a row lock: the rows were held. The body gets a `PairTransaction`
 * of its own per attempt; the lock bookkeeping spans the attempts.
 *
 * The budget: `plan.options.lockTimeoutMs` (0 = none) covers the wait for a
 * connection, for a lock-wait slot and for the rows; a deadlock retry starts
 * it afresh. The bulkhead (`LockWaitSlots`): a write whose lock statement
 * may wait holds one of the pool's lock-wait slots (half the pool) for its
 * transaction. When none is free it runs with its lock statement NOWAIT: a
 * learner nobody holds is served as usual; when the rows are held it rolls
 * back, gives its connection back, waits in memory for a slot and only then
 * waits on the rows with what is left of its budget. A budget spent waiting
 * for a slot fails as a lock timeout (55P03, the rows were held); one spent
 * waiting for a connection as NoConnectionError.
 */
export async function runAttempts<T>(
  rt: CouplerRuntime,
  plan: AttemptPlan,
  body: (tx: PairTransaction) => Promise<T>,
): Promise<AttemptResult<T>> {
  const pool = rt.connections.poolFor(plan.userId);
  const stats: AttemptStats = { retries: 0, deadlocks: 0, locks: { lockWaitMs: undefined, rowLocked: false } };
  const transaction = plan.options === ONE_STATEMENT ? undefined : plan.options;
  // On the learner's Citus worker a write names the learner's shards, once its claim on them holds (ShardTables).
  const shards = transaction?.accessMode === "read write" ? rt.connections.shardTablesFor?.(plan.userId) : undefined;
  const budgetMs = transaction?.lockTimeoutMs ?? 0;
  let deadline = performance.now() + (budgetMs > 0 ? budgetMs : Number.POSITIVE_INFINITY);
  // Only a write that would wait on row locks needs a slot; reads take none, NOWAIT calls never wait.
  const slots = plan.noWait || transaction?.accessMode !== "read write" ? undefined : lockWaitSlotsFor(pool);
  // A NOWAIT try found the rows held: from now on the call waits for a slot.
  let held = false;
  for (;;) {
    stats.locks.lockWaitMs = undefined;
    const slot = slots ? await slots.acquire(held ? deadline - performance.now() : 0) : false;
    if (slots && held && !slot) {
      return { ok: false, error: slotsFull(slots.capacity), sqlState: SqlState.lockNotAvailable, stats };
    }
    // Without a slot the lock statement may not wait: NOWAIT, and the call takes a slot only if the rows are held.
    const attempt = { ...plan, noWait: plan.noWait || (slots !== undefined && !slot) };
    try {
      const left = deadline - performance.now();
      // lock_timeout 0 would mean "wait forever": a spent budget fails here instead.
      if (budgetMs > 0 && left < 1) throw held ? slotsFull(slots?.capacity ?? 0) : new NoConnectionError(budgetMs);
      const run = (client: pg.PoolClient, onShards?: ShardTables) =>
        body(new PairTransaction(rt, { ...attempt, shards: onShards }, client, stats.locks));
      const value = transaction
        ? await runTransaction(
            pool,
            {
              ...transaction,
              ...(budgetMs > 0 ? { lockTimeoutMs: Math.ceil(left) } : {}),
              ...(shards
                ? {
                    beginWith: (client, lockTimeoutMs) =>
                      shards.claimOn(client, { lockTimeoutMs, userId: plan.userId, noWait: attempt.noWait }),
                  }
                : {}),
            },
            async (_db, client, begun, beginMs) => {
              if (!shards) return run(client);
              if (!ShardTables.learnerWasFree(begun)) {
                // Another transaction of the learner held its lock (ShardTables.claimOn): as a lock statement
                // that found the rows held, the call is contended, and its wait is lock wait.
                stats.locks.rowLocked = true;
                stats.locks.lockWaitMs = (stats.locks.lockWaitMs ?? 0) + beginMs;
                if (attempt.noWait) throw learnerHeld();
              }
              if (ShardTables.claimed(begun)) return run(client, shards);
              // Not claimed (the shards moved): the distributed tables, which the node forwards, with the lock timeout.
              const forward = ShardTables.forwardSettings(begun);
              if (forward) await client.query(forward);
              return run(client);
            },
            rt.faults,
          )
        : await runStatement(pool, run, rt.faults);
      return { ok: true, value, stats };
    } catch (error) {
      const sqlState = sqlStateOf(error);
      if (attempt.noWait && !plan.noWait && sqlState === SqlState.lockNotAvailable) {
        // The rows are held: wait for them behind the bulkhead, on what is left of the budget.
        held = true;
        stats.locks.rowLocked = true;
        continue;
      }
      if (sqlState === SqlState.deadlockDetected) stats.deadlocks++;
      if (shouldRetry(error, sqlState) && stats.retries < rt.maxRetries) {
        stats.retries++;
        await sleep(Math.random() * rt.retryBaseDelayMs * 2 ** stats.retries);
        deadline = performance.now() + (budgetMs > 0 ? budgetMs : Number.POSITIVE_INFINITY);
        continue;
      }
      // The lock statement gave up (lock_timeout or NOWAIT) before it could report: the rows were held.
      if (sqlState === SqlState.lockNotAvailable) stats.locks.rowLocked = true;
      return { ok: false, error, sqlState, stats };
    } finally {
      if (slot) slots?.release();
    }
  }
}

/** NOWAIT, and the claim found the learner's lock held: as a lock statement with NOWAIT reports held rows (55P03). */
function learnerHeld(): Error {
  return Object.assign(new Error("another transaction of the learner held it (NOWAIT); nothing was applied"), {
    code: SqlState.lockNotAvailable,
  });
}

/** The rows were held and no lock-wait slot freed within the budget: a lock timeout, as PostgreSQL would report it. */
function slotsFull(capacity: number): Error {
  return Object.assign(
    new Error(`the rows were held and all ${capacity} lock-wait connections stayed busy; nothing was applied`),
    { code: SqlState.lockNotAvailable },
  );
}

/** A deadlock, serialization failure or key race is worth another attempt; a call's own CouplerError is not. */
function shouldRetry(error: unknown, state: string | undefined): boolean {
  if (error instanceof CouplerError) return false;
  if (state === SqlState.deadlockDetected || state === SqlState.serializationFailure) return true;
  if (state === SqlState.uniqueViolation) {
    const cause = (error as { cause?: { constraint?: unknown; message?: unknown } }).cause;
    // On Citus the error comes from a worker without the constraint field, its message naming the
    // shard's copy of the key: ... violates unique constraint "idempotency_keys_pkey_102191".
    const constraint =
      cause?.constraint ??
      (error as { constraint?: unknown }).constraint ??
      /unique constraint "([^"]+)"/.exec(String(cause?.message))?.[1];
    // Two calls raced to store the same idempotency key: the retry sees the winner's result.
    return typeof constraint === "string" && /^idempotency_keys_pkey(_\d+)?$/.test(constraint);
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
