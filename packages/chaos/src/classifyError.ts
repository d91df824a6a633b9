import { isConnectionError, isCouplerError, SqlState, sqlStateOf } from "@coupler/core";

/** The client stopped waiting; the call may still complete. */
export class ClientAborted extends Error {
  override name = "ClientAborted";
}

/** An HTTP call answered with an error (or none at all). */
export class HttpCallError extends Error {
  override name = "HttpCallError";
  constructor(
    message: string,
    readonly status: number,
    /** The core error code from `data.couplerCode`, or the tRPC code. */
    readonly code: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export interface ClassifiedError {
  /** A core error code, or ABORTED / INJECTED / HTTP_<status>. */
  code: string;
  /** Retrying the same request may succeed. */
  retryable: boolean;
  /** The attempt may or may not have taken effect. */
  indeterminate: boolean;
  /** A failure the chaos suite provokes on purpose (anything else retryable is expected too). */
  expected: boolean;
}

const RETRYABLE_CODES = new Set(["UNAVAILABLE", "LOCK_TIMEOUT", "DEADLOCK", "CONFLICT"]);

/** Sorts a failed attempt into retry / give up, and known / unknown outcome. */
export function classifyError(error: unknown): ClassifiedError {
  if (error instanceof ClientAborted) return { code: "ABORTED", retryable: true, indeterminate: true, expected: true };
  if (hasInjectedFault(error)) return { code: "INJECTED", retryable: true, indeterminate: false, expected: true };
  if (error instanceof HttpCallError) {
    // No status at all: the connection failed, so the request may have been applied.
    const indeterminate = error.status === 0 || error.status >= 500;
    const retryable = error.retryable || RETRYABLE_CODES.has(error.code) || error.status === 0 || error.status === 503;
    return { code: error.code, retryable, indeterminate, expected: retryable };
  }
  if (isCouplerError(error)) {
    const retryable = RETRYABLE_CODES.has(error.code);
    return { code: error.code, retryable, indeterminate: error.code === "UNAVAILABLE", expected: retryable };
  }
  // The legacy path throws driver errors as they come.
  if (isConnectionError(error) || sqlStateOf(error) === SqlState.queryCanceled) {
    return { code: "UNAVAILABLE", retryable: true, indeterminate: true, expected: true };
  }
  const state = sqlStateOf(error);
  return { code: state ? `DB_${state}` : "DB", retryable: false, indeterminate: false, expected: false };
}

function hasInjectedFault(error: unknown): boolean {
  for (
    let e = error, depth = 0;
    e && typeof e === "object" && depth < 6;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    if ((e as { name?: unknown }).name === "InjectedFault") return true;
  }
  return false;
}
