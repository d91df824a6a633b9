import type pg from "pg";
import type { Logger } from "pino";
import type { Catalogue } from "../catalogue.ts";
import type { Db } from "../client.ts";
import { CouplerError, SqlState, sqlStateOf, toCouplerError } from "../errors/index.ts";
import type { ContentionCause, CouplerObserver, OperationEvent, OperationName, OperationOutcome } from "../observer.ts";
import type { SpecializationRules } from "../specializations.ts";
import { runTransaction, type TransactionOptions } from "../transaction.ts";
import type { Statements } from "./statements.ts";
import type { CallOptions, CouplerFaults } from "./types.ts";

/** What every operation of one coupler shares: its settings, statements and reporting. */
export interface CouplerRuntime {
  pool: pg.Pool;
  catalogue: Catalogue;
  statements: Statements;
  lockTimeoutMs: number;
  noWait: boolean;
  maxRetries: number;
  retryBaseDelayMs: number;
  idempotencyRetentionMs: number;
  observer: CouplerObserver | undefined;
  logger: Logger;
  faults: CouplerFaults | undefined;
}

/** Which call this is, for errors, events and logs. */
export interface OperationContext {
  operation: OperationName;
  userId: number | undefined;
  specialization: string | undefined;
}

export interface Outcome<T> {
  outcome: OperationOutcome;
  result: T;
}

/** The lock bookkeeping of one transaction's calls, carried across its attempts. */
export interface Attempt {
  /** Time spent in the lock statements of the last attempt, in ms. */
  lockWaitMs: number | undefined;
  /** Another transaction held the pair's progress row when a lock statement of the last attempt started. */
  rowLocked: boolean;
  /** The call waited in memory behind this process's transaction on its pair (`WriteCombiner`). */
  queued?: boolean;
}

/** One write transaction as the operations see it. */
export interface WriteTx {
  rt: CouplerRuntime;
  ctx: OperationContext;
  db: Db;
  client: pg.PoolClient;
  attempt: Attempt;
  call: CallOptions;
}

export const WRITE: TransactionOptions = { isolationLevel: "read committed", accessMode: "read write" };
const SNAPSHOT: TransactionOptions = { isolationLevel: "repeatable read", accessMode: "read only" };

/** Runs the checks that precede the transaction; a refusal is reported like any failed call. */
export async function precheck<T>(rt: CouplerRuntime, ctx: OperationContext, checks: () => T | Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await checks();
  } catch (error) {
    const failure = toCouplerError(error, { ...ctx, lockTimeoutMs: rt.lockTimeoutMs, noWait: rt.noWait, attempts: 1 });
    report(rt, ctx, "error", failure, started, { lockWaitMs: undefined, rowLocked: false }, 0, 0);
    throw failure;
  }
}

/** A specialization's rules from the catalogue; an id it does not hold is VALIDATION (a bad input). */
export async function rulesFor(
  rt: CouplerRuntime,
  specialization: string,
  ctx: OperationContext,
): Promise<SpecializationRules> {
  return rt.catalogue.require(specialization, ctx).catch((error: unknown) => {
    throw toCouplerError(error, { ...ctx, lockTimeoutMs: rt.lockTimeoutMs, noWait: rt.noWait, attempts: 1 });
  });
}

/** A write transaction (read committed, the call's lock timeout) with bounded retries, reported once. */
export function runWrite<T>(
  rt: CouplerRuntime,
  ctx: OperationContext,
  call: CallOptions,
  body: (tx: WriteTx) => Promise<Outcome<T>>,
): Promise<T> {
  const lockTimeoutMs = call.lockTimeoutMs ?? rt.lockTimeoutMs;
  return run(rt, ctx, { ...WRITE, lockTimeoutMs }, call, (db, client, attempt) =>
    body({ rt, ctx, db, client, attempt, call }),
  );
}

/** A read in one snapshot (repeatable read, read only), reported once. */
export function runRead<T>(
  rt: CouplerRuntime,
  ctx: OperationContext,
  body: (db: Db) => Promise<Outcome<T>>,
): Promise<T> {
  return run(rt, ctx, SNAPSHOT, {}, (db) => body(db));
}

async function run<T>(
  rt: CouplerRuntime,
  ctx: OperationContext,
  txOptions: TransactionOptions,
  call: CallOptions,
  body: (db: Db, client: pg.PoolClient, attempt: Attempt) => Promise<Outcome<T>>,
): Promise<T> {
  const started = performance.now();
  let retries = 0;
  let deadlocks = 0;
  const attempt: Attempt = { lockWaitMs: undefined, rowLocked: false };
  for (;;) {
    attempt.lockWaitMs = undefined;
    try {
      const { outcome, result } = await runTransaction(
        rt.pool,
        txOptions,
        (db, client) => body(db, client, attempt),
        rt.faults,
      );
      report(rt, ctx, outcome, undefined, started, attempt, retries, deadlocks);
      return result;
    } catch (error) {
      const state = sqlStateOf(error);
      if (state === SqlState.deadlockDetected) deadlocks++;
      if (shouldRetry(rt, error, state, retries)) {
        retries++;
        await backOff(rt, retries);
        continue;
      }
      // The lock statement gave up (lock_timeout or NOWAIT) before it could report: the rows were held.
      if (state === SqlState.lockNotAvailable) attempt.rowLocked = true;
      const failure = toCouplerError(error, {
        ...ctx,
        lockTimeoutMs: txOptions.lockTimeoutMs ?? 0,
        noWait: call.noWait ?? rt.noWait,
        attempts: retries + 1,
      });
      report(rt, ctx, "error", failure, started, attempt, retries, deadlocks);
      throw failure;
    }
  }
}

/** Reports one call to the observer and the log. */
export function report(
  rt: CouplerRuntime,
  ctx: OperationContext,
  outcome: OperationOutcome,
  error: CouplerError | undefined,
  started: number,
  attempt: Attempt,
  retries: number,
  deadlocks: number,
  batchSize?: number,
): void {
  const contention: ContentionCause | undefined = attempt.rowLocked ? "row_lock" : attempt.queued ? "queue" : undefined;
  const event: OperationEvent = {
    operation: ctx.operation,
    outcome,
    ...(error ? { errorCode: error.code } : {}),
    userId: ctx.userId,
    specialization: ctx.specialization,
    durationMs: performance.now() - started,
    lockWaitMs: attempt.lockWaitMs,
    contended: contention !== undefined,
    contention,
    retries,
    deadlocks,
    ...(batchSize === undefined ? {} : { batchSize }),
  };
  try {
    rt.observer?.onOperation(event);
  } catch (observerError) {
    rt.logger.error({ err: observerError }, "coupler observer threw; event dropped");
  }
  if (!error) {
    rt.logger.info(event, `${ctx.operation} ${outcome}`);
  } else {
    const level = error.code === "DB" || error.code === "UNAVAILABLE" ? "error" : "warn";
    rt.logger[level]({ ...event, err: error }, `${ctx.operation} failed: ${error.message}`);
  }
}

/** Whether a failed transaction is tried again: a deadlock, serialization failure or key race, within the retries. */
export function shouldRetry(rt: CouplerRuntime, error: unknown, state: string | undefined, retries: number): boolean {
  return !(error instanceof CouplerError) && isRetryable(error, state) && retries < rt.maxRetries;
}

/** The jittered exponential back-off before retry number `retries`. */
export function backOff(rt: CouplerRuntime, retries: number): Promise<void> {
  return sleep(Math.random() * rt.retryBaseDelayMs * 2 ** retries);
}

function isRetryable(error: unknown, state: string | undefined): boolean {
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
