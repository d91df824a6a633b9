/**
 * Stable error codes of the coupler. Outside clients match on these strings;
 * never rename one.
 */
export type CouplerErrorCode =
  /** The input breaks a rule (range, sign, unknown specialization, reused idempotency key). */
  | "VALIDATION"
  /** The user, the specialization or the enrollment does not exist. */
  | "NOT_FOUND"
  /** A row lock could not be taken within lock_timeout, or at once with NOWAIT. */
  | "LOCK_TIMEOUT"
  /** PostgreSQL chose this transaction as a deadlock victim on every retry. */
  | "DEADLOCK"
  /** A concurrent change won (serialization failure, idempotency key in flight); retrying may succeed. */
  | "CONFLICT"
  /** The database is unreachable or dropped the connection (the outcome of a write may be unknown), or no pooled connection came within the call's budget (nothing applied). */
  | "UNAVAILABLE"
  /** Any other database failure. */
  | "DB"
  /** Too many calls wait for the same pair in this process (write combining's queue is full); nothing changed, retryable. */
  | "OVERLOADED";

export interface CouplerErrorContext {
  operation?: string | undefined;
  userId?: number | undefined;
  specialization?: string | undefined;
}

export interface CouplerErrorOptions extends CouplerErrorContext {
  cause?: unknown;
  retryable?: boolean;
}

/** Base class of every error the coupler throws. Check with `isCouplerError`. */
export class CouplerError extends Error {
  override name = "CouplerError";
  readonly code: CouplerErrorCode;
  /** Whether the same call may succeed if retried unchanged. */
  readonly retryable: boolean;
  readonly operation: string | undefined;
  readonly userId: number | undefined;
  readonly specialization: string | undefined;

  constructor(code: CouplerErrorCode, message: string, options: CouplerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.operation = options.operation;
    this.userId = options.userId;
    this.specialization = options.specialization;
  }
}

const CODES: ReadonlySet<string> = new Set<CouplerErrorCode>([
  "VALIDATION",
  "NOT_FOUND",
  "LOCK_TIMEOUT",
  "DEADLOCK",
  "CONFLICT",
  "UNAVAILABLE",
  "DB",
  "OVERLOADED",
]);

/** True for any coupler error, also across package copies where `instanceof` fails. */
export function isCouplerError(error: unknown): error is CouplerError {
  if (error instanceof CouplerError) return true;
  if (!(error instanceof Error)) return false;
  const { code, retryable } = error as Partial<CouplerError>;
  return typeof code === "string" && CODES.has(code) && typeof retryable === "boolean";
}
