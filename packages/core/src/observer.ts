import type { CouplerErrorCode } from "./errors/index.ts";

export type OperationName =
  | "enroll"
  | "advance"
  | "levelUp"
  | "sync"
  | "validate"
  | "get"
  | "history";

/** `applied` changed state; `noop` had nothing to change; `replayed` returned a stored idempotent result. */
export type OperationOutcome = "applied" | "noop" | "replayed" | "error";

export interface OperationEvent {
  operation: OperationName;
  outcome: OperationOutcome;
  /** Set when `outcome` is `error`. */
  errorCode?: CouplerErrorCode;
  userId: number | undefined;
  specialization: string | undefined;
  /** Wall time of the whole call, retries and back-off included. */
  durationMs: number;
  /** Time waiting for the pair in the last attempt: queued in memory (write combining) plus the lock statement; undefined for reads. */
  lockWaitMs: number | undefined;
  /**
   * The call found its pair busy and waited: it queued in memory behind this
   * process's transaction on the pair (write combining), or another
   * transaction held the pair's progress row when the lock statement started
   * (the statement measures it itself; no probe, no restart).
   */
  contended: boolean;
  /** Attempts beyond the first (deadlock or serialization retries). */
  retries: number;
  /** Deadlocks PostgreSQL reported during the call, retried or not. */
  deadlocks: number;
  /**
   * Calls that shared this call's last transaction, itself included (write
   * combining; 1 when alone). Undefined for reads, enroll and calls refused
   * before a transaction.
   */
  batchSize?: number | undefined;
}

/**
 * Receives one event per coupler call. Must not throw and must be cheap: it
 * runs on the caller's path. The API turns events into Prometheus metrics.
 */
export interface CouplerObserver {
  onOperation(event: OperationEvent): void;
}
