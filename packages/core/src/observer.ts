import type { CouplerErrorCode } from "./errors/index.ts";

export type OperationName = "enroll" | "advance" | "levelUp" | "sync" | "validate" | "get" | "history";

/** `applied` changed state; `noop` had nothing to change; `replayed` returned a stored idempotent result. */
export type OperationOutcome = "applied" | "noop" | "replayed" | "error";

/** Why a call waited for its pair: see `OperationEvent.contention`. */
export type ContentionCause = "queue" | "row_lock";

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
   * The call found its pair busy and waited (`contention` says why). Kept for
   * observers written before `contention`: true exactly when it is set.
   */
  contended: boolean;
  /**
   * Why the call waited for its pair, when it did:
   * - `row_lock`: another transaction (another process, or a call of this one
   *   that does not combine) held the pair's progress row when the lock
   *   statement started. The statement measures it itself: no probe, no
   *   restart. This is database contention, what the seed's "lock contention
   *   < 5%" is about.
   * - `queue`: it waited in memory behind this process's transaction on the
   *   pair (write combining) and then found the rows free. That is the
   *   combiner doing its job; its cost shows in `lockWaitMs` and `durationMs`.
   *
   * A call that queued and then found the rows locked by another transaction
   * is `row_lock`, and so is one whose lock statement gave up (LOCK_TIMEOUT).
   * Undefined when the call did not wait (and for reads).
   */
  contention?: ContentionCause | undefined;
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
  /**
   * A call routed direct on Citus reached a node that does not hold its
   * learner's shard (a stale worker map): the node forwarded it and it
   * committed once; the router refreshes its map. Optional.
   */
  onRouteMiss?(event: RouteMissEvent): void;
  /** The Citus worker map changed when re-read (a shard moved, a node came or went). Optional. */
  onWorkerMapChange?(): void;
}

/** One call that reached the wrong Citus node (see `CouplerObserver.onRouteMiss`). */
export interface RouteMissEvent {
  userId: number;
  /** The shard the router's map (after the refresh it triggers, if done) names for the learner. */
  shardId: string | undefined;
}
