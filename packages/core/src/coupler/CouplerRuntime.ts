import type { Logger } from "pino";
import type { Catalogue } from "../catalogue.ts";
import type { CouplerObserver, OperationName, OperationOutcome } from "../observer.ts";
import type { ConnectionSource } from "./ConnectionSource.ts";
import type { Statements } from "./statements.ts";
import type { CouplerFaults } from "./types.ts";

/**
 * What every call of one coupler shares: its settings, statements, reporting
 * and where a learner's transaction gets its connection. There is no pool
 * here: a call's connection comes from `connections`, in `runAttempts` only.
 */
export interface CouplerRuntime {
  connections: ConnectionSource;
  catalogue: Catalogue;
  statements: Statements;
  /** Default lock timeout, in ms. */
  lockTimeoutMs: number;
  noWait: boolean;
  maxRetries: number;
  /** First back-off delay, in ms. */
  retryBaseDelayMs: number;
  /** How long an idempotency key is remembered, in ms. */
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

/** What an operation's transaction returns: its outcome (for the event) and the caller's result. */
export interface Outcome<T> {
  outcome: Exclude<OperationOutcome, "error">;
  result: T;
}
