import type { CouplerError } from "../errors/index.ts";
import type { ContentionCause, OperationEvent, OperationOutcome } from "../observer.ts";
import type { CouplerRuntime, OperationContext } from "./CouplerRuntime.ts";

/** The lock bookkeeping of one transaction's calls, kept by its `PairTransaction` across attempts. */
export interface LockStats {
  /** Time spent in the lock statements of the last attempt, in ms; undefined when none ran. */
  lockWaitMs: number | undefined;
  /** Another transaction held the pair's rows when a lock statement started, or a lock statement gave up. */
  rowLocked: boolean;
}

/** One finished call, as the observer and the log see it. */
export interface CallReport {
  outcome: OperationOutcome;
  error?: CouplerError | undefined;
  /** When the call started (performance.now()). */
  started: number;
  locks: LockStats;
  /** The call waited in memory behind this process's transaction on its pair (write combining). */
  queued?: boolean;
  retries: number;
  deadlocks: number;
  /** Calls that shared the call's last transaction (writes on a pair only). */
  batchSize?: number | undefined;
}

/** Reports one call to the observer (an observer that throws is logged, not rethrown) and the log. */
export function reportCall(rt: CouplerRuntime, ctx: OperationContext, call: CallReport): void {
  const { outcome, error, locks } = call;
  const contention: ContentionCause | undefined = locks.rowLocked ? "row_lock" : call.queued ? "queue" : undefined;
  const event: OperationEvent = {
    operation: ctx.operation,
    outcome,
    ...(error ? { errorCode: error.code } : {}),
    userId: ctx.userId,
    specialization: ctx.specialization,
    durationMs: performance.now() - call.started,
    lockWaitMs: locks.lockWaitMs,
    contended: contention !== undefined,
    contention,
    retries: call.retries,
    deadlocks: call.deadlocks,
    ...(call.batchSize === undefined ? {} : { batchSize: call.batchSize }),
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
