import type { OperationOutcome } from "../observer.ts";
import type { SpecializationProgress, UserLicense } from "../schema.ts";

/** A learner's pair: the rows a transaction locks. */
export interface PairKey {
  userId: number;
  specialization: string;
}

/** A pair's two rows as a write transaction holds them (locked), kept current in memory as its calls apply. */
export interface PairRows {
  progress: SpecializationProgress;
  license: UserLicense;
}

/**
 * Whichever halves of a pair a write transaction holds locked (both, for
 * every pair the coupler wrote), with the stored results of the keys it asked
 * for (by `storedKey(actor, key)`) and, when asked, where the license's
 * history chain ends.
 */
export interface LockedRows {
  progress: SpecializationProgress | undefined;
  license: UserLicense | undefined;
  stored: Map<string, StoredResult>;
  /** The level the license's last history row ends at (1 without history); read only when asked for. */
  historyEnd?: number | undefined;
}

/** A pair whose two rows this transaction holds FOR UPDATE. */
export type LockedPair = LockedRows & PairRows;

/** The stored result of an idempotency key: the request's hash and the response it got. */
export interface StoredResult {
  requestHash: string;
  response: unknown;
}

/** A pair's new state after one call. */
export interface NextState {
  currentLevel: number;
  totalXp: number;
  completedSessions: number;
  maxAchievedLevel: number;
  /** The history row's reason and actor, when the license's level moves. */
  reason: string;
  actor: string;
  /** The progress row keeps its values (sync from progress): it is not rewritten. */
  progressUnchanged?: boolean;
}

/** A history row written for its own sake: a repair of the chain (sync), before the change's level move. */
export interface HistoryStep {
  fromLevel: number;
  toLevel: number;
  reason: string;
  actor: string;
}

/** The audit row of one call (the learner and specialization are the pair's). */
export interface AuditEntry {
  operation: "enroll" | "levelUp" | "advance" | "sync";
  xpDelta: number;
  sessionsDelta: number;
  fromLevel: number | null;
  toLevel: number | null;
  actor: string;
  idempotencyKey: string | null;
  outcome: "applied" | "noop";
}

/** The idempotency record of one call, stored for the actor's key. */
export interface KeyEntry {
  key: string;
  operation: "levelUp";
  actor: string;
  requestHash: string;
  response: unknown;
}

/**
 * What one call changes: the pair's new state (none for a no-op), a history
 * repair, its audit row and its idempotency record. A half missing from the
 * locked rows is created with the new state.
 */
export interface Change {
  next: NextState | undefined;
  repair?: HistoryStep | undefined;
  audit: AuditEntry;
  idempotency?: KeyEntry | undefined;
}

/**
 * A call planned over the pair's rows in memory: its outcome and result, and
 * the change to write (none for a replay, which writes nothing).
 */
export interface Planned<T> {
  outcome: Exclude<OperationOutcome, "error">;
  result: T;
  change?: Change | undefined;
}
