import type pg from "pg";
import type { Logger } from "pino";
import type { Catalogue } from "../catalogue.ts";
import type { Db } from "../client.ts";
import { CouplerError, NotFoundError, SqlState, sqlStateOf, toCouplerError } from "../errors/index.ts";
import type { CouplerObserver, OperationName, OperationOutcome } from "../observer.ts";
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

/** The lock bookkeeping of one call, carried across its attempts. */
export interface Attempt {
  lockWaitMs: number | undefined;
  /** Take the locks with NOWAIT first, to learn whether another transaction holds them. */
  probe: boolean;
  /** A probe found the rows locked: this call had to wait. */
  contended: boolean;
}

/** The NOWAIT probe found the pair locked; the transaction restarts and waits. */
export class LocksHeld extends Error {}

/** One write transaction as the operations see it. */
export interface WriteTx {
  rt: CouplerRuntime;
  ctx: OperationContext;
  db: Db;
  client: pg.PoolClient;
  attempt: Attempt;
  call: CallOptions;
}

const WRITE: TransactionOptions = { isolationLevel: "read committed", accessMode: "read write" };
const SNAPSHOT: TransactionOptions = { isolationLevel: "repeatable read", accessMode: "read only" };

/** Runs the checks that precede the transaction; a refusal is reported like any failed call. */
export async function precheck<T>(rt: CouplerRuntime, ctx: OperationContext, checks: () => T | Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await checks();
  } catch (error) {
    const failure = toCouplerError(error, { ...ctx, lockTimeoutMs: rt.lockTimeoutMs, noWait: rt.noWait, attempts: 1 });
    report(rt, ctx, "error", failure, started, { lockWaitMs: undefined, probe: false, contended: false }, 0, 0);
    throw failure;
  }
}

/** A specialization's rules from the catalogue, or NOT_FOUND. */
export async function rulesFor(rt: CouplerRuntime, specialization: string, ctx: OperationContext): Promise<SpecializationRules> {
  const rules = await rt.catalogue.get(specialization).catch((error: unknown) => {
    throw toCouplerError(error, { ...ctx, lockTimeoutMs: rt.lockTimeoutMs, noWait: rt.noWait, attempts: 1 });
  });
  if (!rules) {
    throw new NotFoundError("specialization", `${ctx.operation}: specialization ${specialization} is not in the catalogue`, ctx);
  }
  return rules;
}

/** A write transaction (read committed, the call's lock timeout) with bounded retries, reported once. */
export function runWrite<T>(
  rt: CouplerRuntime,
  ctx: OperationContext,
  call: CallOptions,
  body: (tx: WriteTx) => Promise<Outcome<T>>,
): Promise<T> {
  const lockTimeoutMs = call.lockTimeoutMs ?? rt.lockTimeoutMs;
  return run(rt, ctx, { ...WRITE, lockTimeoutMs }, call, (db, client, attempt) => body({ rt, ctx, db, client, attempt, call }));
}

/** A read in one snapshot (repeatable read, read only), reported once. */
export function runRead<T>(rt: CouplerRuntime, ctx: OperationContext, body: (db: Db) => Promise<Outcome<T>>): Promise<T> {
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
  const attempt: Attempt = { lockWaitMs: undefined, probe: true, contended: false };
  for (;;) {
    attempt.lockWaitMs = undefined;
    try {
      const { outcome, result } = await runTransaction(rt.pool, txOptions, (db, client) => body(db, client, attempt), rt.faults);
      report(rt, ctx, outcome, undefined, started, attempt, retries, deadlocks);
      return result;
    } catch (error) {
      if (error instanceof LocksHeld) {
        // Not a retry: the same transaction again, now waiting for the locks.
        attempt.probe = false;
        attempt.contended = true;
        continue;
      }
      const state = sqlStateOf(error);
      if (state === SqlState.deadlockDetected) deadlocks++;
      if (!(error instanceof CouplerError) && isRetryable(error, state) && retries < rt.maxRetries) {
        retries++;
        await sleep(Math.random() * rt.retryBaseDelayMs * 2 ** retries);
        continue;
      }
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

function report(
  rt: CouplerRuntime,
  ctx: OperationContext,
  outcome: OperationOutcome,
  error: CouplerError | undefined,
  started: number,
  attempt: Attempt,
  retries: number,
  deadlocks: number,
): void {
  const event = {
    operation: ctx.operation,
    outcome,
    ...(error ? { errorCode: error.code } : {}),
    userId: ctx.userId,
    specialization: ctx.specialization,
    durationMs: performance.now() - started,
    lockWaitMs: attempt.lockWaitMs,
    contended: attempt.contended,
    retries,
    deadlocks,
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

function isRetryable(error: unknown, state: string | undefined): boolean {
  if (state === SqlState.deadlockDetected || state === SqlState.serializationFailure) return true;
  // Two calls raced to store the same idempotency key: the retry sees the winner's result.
  if (state === SqlState.uniqueViolation) {
    const cause = (error as { cause?: { constraint?: unknown; message?: unknown } }).cause;
    // On Citus the error comes from a worker without the constraint field, its message naming the
    // shard's copy of the key: ... violates unique constraint "idempotency_keys_pkey_102191".
    const constraint = cause?.constraint ?? (error as { constraint?: unknown }).constraint ?? /unique constraint "([^"]+)"/.exec(String(cause?.message))?.[1];
    return typeof constraint === "string" && /^idempotency_keys_pkey(_\d+)?$/.test(constraint);
  }
  return false;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
