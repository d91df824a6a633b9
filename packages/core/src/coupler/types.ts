import type pg from "pg";
import type { Logger } from "pino";
import type { Db } from "../client.ts";
import type { SyncSource } from "../inputs.ts";
import type { CouplerObserver } from "../observer.ts";
import type { TransactionFaults } from "../transaction.ts";
import type { ConnectionSource } from "./ConnectionSource.ts";

export interface CouplerFaults extends TransactionFaults {
  /**
   * In the middle of a write transaction: after the pair's rows are locked
   * and before the write statement of the transaction's calls (the one
   * statement that writes rows, history, keys and audit).
   * A kill here must leave nothing.
   */
  midTransaction?(client: pg.PoolClient): Promise<void>;
}

/** Write combining's settings (the API's COUPLER_WRITE_COMBINING*, see config.ts). */
export interface CombiningOptions {
  /** Combine concurrent writes to one pair into one transaction (default true). */
  enabled?: boolean;
  /** Most calls one transaction runs (default 64). */
  maxBatchSize?: number;
  /** Most calls that may wait for one pair in this process; more get OVERLOADED (default 1024). */
  maxQueuePerPair?: number;
}

export interface CouplerOptions {
  /** The database's pool: the catalogue's reads, and every learner's calls unless `connections` says otherwise. */
  pool: pg.Pool;
  db: Db;
  /**
   * Where each learner's calls (enroll, levelUp, advance, sync, validate,
   * get, history, a combined batch) get their connection. Default: `pool`
   * for every learner.
   */
  connections?: ConnectionSource;
  /** Longest wait for a pair's row locks before LOCK_TIMEOUT, in ms (SET LOCAL lock_timeout). */
  lockTimeoutMs?: number;
  /** Fail at once with LOCK_TIMEOUT instead of waiting (FOR UPDATE NOWAIT). */
  noWait?: boolean;
  /** Retries of a transaction that hit a deadlock or serialization failure. */
  maxRetries?: number;
  /** First back-off delay; each retry waits a random time up to base * 2^attempt. */
  retryBaseDelayMs?: number;
  /**
   * Named prepared statements, kept per pooled connection (default true).
   * Turn off behind a transaction pooler (PgBouncer before 1.21 in
   * transaction mode), where a statement prepared on one server connection
   * is missing on the next: every statement is then sent unnamed.
   */
  preparedStatements?: boolean;
  /**
   * The database is a Citus coordinator with the coupler's tables
   * distributed (default false; `couplerOnCitus` tells). A combined batch's
   * write statement then takes the shape Citus routes to the learner's one
   * shard (VALUES rows, one statement per row counts) instead of typed
   * arrays, which Citus cannot plan in it. Calls run alone are the same
   * either way.
   */
  citus?: boolean;
  /**
   * How long an idempotency key is remembered, in ms (default 24 h). A key
   * older than this is treated as never used, whether or not
   * `purgeExpiredIdempotencyKeys` has removed it yet.
   */
  idempotencyRetentionMs?: number;
  observer?: CouplerObserver;
  logger?: Logger;
  faults?: CouplerFaults;
  /**
   * Write combining: concurrent levelUp, advance and sync calls on one pair
   * share a transaction (on by default; `{ enabled: false }` gives every call
   * its own). Bounded by `maxBatchSize` calls per transaction (default 64)
   * and `maxQueuePerPair` waiting calls per pair (default 1024; beyond it a
   * call fails at once with OVERLOADED).
   */
  combining?: CombiningOptions;
}

/** An operation's input as callers hold it: the specialization is any id, checked against the catalogue at run time. */
export type Input<T extends { specialization: string }> = Omit<T, "specialization"> & { specialization: string };

/** Per-call overrides. */
export interface CallOptions {
  /** Who asked, written to the history and the audit log; idempotency keys are per caller. Default "system". */
  actor?: string;
  noWait?: boolean;
  lockTimeoutMs?: number;
}

export interface ProgressState {
  currentLevel: number;
  totalXp: number;
  completedSessions: number;
  updatedAt: Date;
}

export interface LicenseState {
  id: number;
  currentLevel: number;
  maxAchievedLevel: number;
  updatedAt: Date;
}

export interface PairState {
  userId: number;
  specialization: string;
  progress: ProgressState;
  license: LicenseState;
}

export interface EnrollResult extends PairState {
  /** False when the learner was already enrolled (nothing changed). */
  created: boolean;
}

/** A pair after a change of its level, XP or sessions. */
export interface LevelChange {
  userId: number;
  specialization: string;
  previousLevel: number;
  newLevel: number;
  totalXp: number;
  completedSessions: number;
  maxAchievedLevel: number;
}

export interface LevelUpResult extends LevelChange {
  leveledUp: boolean;
  /** True when an earlier call with the same idempotency key produced this result. */
  replayed: boolean;
}

export interface AdvanceResult extends LevelChange {
  changed: boolean;
}

/** The seed's name for {@link AdvanceResult}. */
export type UpdateLevelResult = AdvanceResult;

export interface SyncResult {
  userId: number;
  specialization: string;
  source: SyncSource;
  /** Levels found before the repair. */
  progressLevel: number | null;
  licenseLevel: number | null;
  /** The level both rows hold now. */
  level: number;
  changed: boolean;
}

export type ConsistencyIssueCode =
  | "LEVEL_MISMATCH"
  | "MISSING_PROGRESS"
  | "MISSING_LICENSE"
  | "LEVEL_OUT_OF_RANGE"
  | "MAX_BELOW_CURRENT"
  | "HISTORY_GAP";

export interface ConsistencyIssue {
  code: ConsistencyIssueCode;
  message: string;
}

export interface ConsistencyReport {
  userId: number;
  specialization: string;
  consistent: boolean;
  issues: ConsistencyIssue[];
  progress: ProgressState | null;
  license: LicenseState | null;
}

export interface HistoryEntry {
  id: number;
  fromLevel: number;
  toLevel: number;
  reason: string;
  actor: string;
  createdAt: Date;
}

export interface HistoryPage {
  items: HistoryEntry[];
  /** Pass as `cursor` to read the next (older) page; null on the last page. */
  nextCursor: number | null;
}
