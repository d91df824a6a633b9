import { CouplerError, SqlState, sqlStateOf } from "../errors/index.ts";
import { runTransaction, type TransactionOptions } from "../transaction.ts";
import type { CouplerRuntime, OperationContext } from "./CouplerRuntime.ts";
import { PairTransaction } from "./PairTransaction.ts";
import type { LockStats } from "./reportCall.ts";

export const WRITE: TransactionOptions = { isolationLevel: "read committed", accessMode: "read write" };
export const SNAPSHOT: TransactionOptions = { isolationLevel: "repeatable read", accessMode: "read only" };

/** One transaction of a learner's call or batch, as `runAttempts` runs it. */
export interface AttemptPlan {
  /** The learner whose rows the transaction touches: it picks the connection (`ConnectionSource.poolFor`). */
  userId: number;
  ctx: OperationContext;
  options: TransactionOptions;
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
 * Runs `body` in one transaction on the learner's connection
 * (`rt.connections.poolFor(plan.userId)`, the one place a call gets one),
 * again after a deadlock, a serialization failure or an idempotency-key race
 * (at most `rt.maxRetries` times, after a jittered exponential back-off), and
 * returns how it ended. A lock statement that gave up (lock_timeout, NOWAIT)
 * counts as a row lock: the rows were held. The body gets a `PairTransaction`
 * of its own per attempt; the lock bookkeeping spans the attempts.
 */
export async function runAttempts<T>(
  rt: CouplerRuntime,
  plan: AttemptPlan,
  body: (tx: PairTransaction) => Promise<T>,
): Promise<AttemptResult<T>> {
  const pool = rt.connections.poolFor(plan.userId);
  const stats: AttemptStats = { retries: 0, deadlocks: 0, locks: { lockWaitMs: undefined, rowLocked: false } };
  for (;;) {
    stats.locks.lockWaitMs = undefined;
    try {
      const value = await runTransaction(
        pool,
        plan.options,
        (_db, client) => body(new PairTransaction(rt, plan, client, stats.locks)),
        rt.faults,
      );
      return { ok: true, value, stats };
    } catch (error) {
      const sqlState = sqlStateOf(error);
      if (sqlState === SqlState.deadlockDetected) stats.deadlocks++;
      if (shouldRetry(error, sqlState) && stats.retries < rt.maxRetries) {
        stats.retries++;
        await sleep(Math.random() * rt.retryBaseDelayMs * 2 ** stats.retries);
        continue;
      }
      // The lock statement gave up (lock_timeout or NOWAIT) before it could report: the rows were held.
      if (sqlState === SqlState.lockNotAvailable) stats.locks.rowLocked = true;
      return { ok: false, error, sqlState, stats };
    }
  }
}

/** A deadlock, serialization failure or key race is worth another attempt; a call's own CouplerError is not. */
function shouldRetry(error: unknown, state: string | undefined): boolean {
  if (error instanceof CouplerError) return false;
  if (state === SqlState.deadlockDetected || state === SqlState.serializationFailure) return true;
  // Two calls raced to store the same idempotency key: the retry sees the winner's result.
  if (state === SqlState.uniqueViolation) {
    const cause = (error as { cause?: { constraint?: unknown; message?: unknown } }).cause;
    // On Citus the error comes from a worker without the constraint field, its message naming the
    // shard's copy of the key: ... violates unique constraint "idempotency_keys_pkey_102191".
    const constraint =
      cause?.constraint ??
      (error as { constraint?: unknown }).constraint ??
      /unique constraint "([^"]+)"/.exec(String(cause?.message))?.[1];
    return typeof constraint === "string" && /^idempotency_keys_pkey(_\d+)?$/.test(constraint);
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
