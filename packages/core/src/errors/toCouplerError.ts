import { ConflictError } from "./ConflictError.ts";
import { CouplerError, type CouplerErrorContext } from "./CouplerError.ts";
import { DatabaseError } from "./DatabaseError.ts";
import { DeadlockError } from "./DeadlockError.ts";
import { LockTimeoutError } from "./LockTimeoutError.ts";
import { NoConnectionError } from "./NoConnectionError.ts";
import { UnavailableError } from "./UnavailableError.ts";

/** PostgreSQL SQLSTATEs the coupler reacts to. */
export const SqlState = {
  uniqueViolation: "23505",
  foreignKeyViolation: "23503",
  checkViolation: "23514",
  integrityConstraintViolation: "23000",
  lockNotAvailable: "55P03",
  deadlockDetected: "40P01",
  serializationFailure: "40001",
  queryCanceled: "57014",
  adminShutdown: "57P01",
  crashShutdown: "57P02",
  cannotConnectNow: "57P03",
  tooManyConnections: "53300",
} as const;

/** pg-pool's error when `connectionTimeoutMillis` passed before a client was free. */
const POOL_TIMEOUT = "timeout exceeded when trying to connect";
const CONNECTION_MESSAGES = [
  "Connection terminated",
  "Client has encountered a connection error",
  "timeout exceeded when trying to connect",
  "Client was closed and is not queryable",
  "Cannot use a pool after calling end",
  // Citus (XX000): the COMMIT of a single-shard transaction did not reach its worker (the worker
  // restarted, or its backend died): as with a lost connection, the outcome is unknown.
  "could not commit transaction for shard",
];
const CONNECTION_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND"]);

/**
 * The SQLSTATE of a driver error. Drizzle wraps pg's error in
 * `DrizzleQueryError`, so the code may sit on `cause`.
 */
export function sqlStateOf(error: unknown): string | undefined {
  for (
    let e = error, depth = 0;
    e && typeof e === "object" && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** True when the error means the connection (not the statement) failed. */
export function isConnectionError(error: unknown): boolean {
  for (
    let e = error, depth = 0;
    e && typeof e === "object" && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === "string") {
      if (CONNECTION_CODES.has(code) || code.startsWith("08")) return true;
      if (code === SqlState.adminShutdown || code === SqlState.crashShutdown || code === SqlState.cannotConnectNow)
        return true;
      if (code === SqlState.tooManyConnections) return true;
    }
    if (typeof message === "string" && CONNECTION_MESSAGES.some((m) => message.includes(m))) return true;
  }
  return false;
}

/** pg-pool gave up waiting for a client (also under Drizzle's wrapper): no statement was sent. */
function neverConnected(error: unknown): boolean {
  for (
    let e = error, depth = 0;
    e && typeof e === "object" && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    if ((e as { message?: unknown }).message === POOL_TIMEOUT) return true;
  }
  return false;
}

export interface ClassifyOptions extends CouplerErrorContext {
  lockTimeoutMs: number;
  noWait: boolean;
  attempts: number;
}

/**
 * Turns whatever a transaction threw into a CouplerError. The one place where
 * driver errors become coupler codes; the original is kept as `cause`.
 */
export function toCouplerError(error: unknown, options: ClassifyOptions): CouplerError {
  if (error instanceof CouplerError) return error;
  const context = {
    operation: options.operation,
    userId: options.userId,
    specialization: options.specialization,
    cause: error,
  };
  const what = describe(options);
  const state = sqlStateOf(error);

  if (state === SqlState.lockNotAvailable) {
    const message = options.noWait
      ? `${what}: the rows are locked by another transaction (NOWAIT)`
      : `${what}: could not lock the rows within ${options.lockTimeoutMs} ms`;
    return new LockTimeoutError(message, { lockTimeoutMs: options.lockTimeoutMs, noWait: options.noWait }, context);
  }
  if (state === SqlState.deadlockDetected) {
    return new DeadlockError(
      `${what}: deadlock detected on each of ${options.attempts} attempts`,
      options.attempts,
      context,
    );
  }
  if (state === SqlState.serializationFailure) {
    return new ConflictError(`${what}: serialization failure on each of ${options.attempts} attempts`, context);
  }
  // The call never got a connection: it never reached the database, so its outcome is known.
  if (error instanceof NoConnectionError || neverConnected(error)) {
    const within = error instanceof NoConnectionError ? `within ${error.waitedMs} ms` : "within the pool's timeout";
    return new UnavailableError(`${what}: no database connection ${within}; nothing was applied, retry`, context);
  }
  if (isConnectionError(error)) {
    return new UnavailableError(
      `${what}: the database connection failed; the outcome may be unknown, retry with the same idempotency key`,
      context,
    );
  }
  if (state === SqlState.queryCanceled) {
    return new UnavailableError(`${what}: the statement was cancelled (statement timeout or cancel request)`, context);
  }
  const constraint =
    (error as { cause?: { constraint?: unknown } })?.cause?.constraint ??
    (error as { constraint?: unknown })?.constraint;
  const detail = typeof constraint === "string" ? ` (constraint ${constraint})` : "";
  return new DatabaseError(`${what}: database error${state ? ` ${state}` : ""}${detail}`, state, context);
}

function describe({ operation, userId, specialization }: CouplerErrorContext): string {
  const who = userId === undefined ? "" : ` for user ${userId}${specialization ? ` in ${specialization}` : ""}`;
  return `${operation ?? "operation"}${who}`;
}
