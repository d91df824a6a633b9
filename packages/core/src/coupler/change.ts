import type { OperationOutcome } from "../observer.ts";
import type { SpecializationProgress, UserLicense } from "../schema.ts";

/** A pair's two rows as a write transaction holds them (locked), kept current in memory as its calls apply. */
export interface PairRows {
  progress: SpecializationProgress;
  license: UserLicense;
}

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

/** The audit row of one call (the learner and specialization are the pair's). */
export interface AuditEntry {
  operation: "levelUp" | "advance" | "sync";
  xpDelta: number;
  sessionsDelta: number;
  fromLevel: number | null;
  toLevel: number | null;
  actor: string;
  idempotencyKey: string | null;
  outcome: "applied" | "noop";
}

/** The idempotency record of one call, stored for the caller's key. */
export interface KeyEntry {
  key: string;
  operation: "levelUp";
  caller: string;
  requestHash: string;
  response: unknown;
}

/** What one call changes: the pair's new state (none for a no-op), its audit row and its idempotency record. */
export interface Change {
  next: NextState | undefined;
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
