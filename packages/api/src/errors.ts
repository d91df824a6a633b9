import { TRPCError } from "@trpc/server";
import { isCouplerError, toCouplerError, type CouplerError, type CouplerErrorCode } from "@coupler/core";

type TRPCCode = TRPCError["code"];

/** How each coupler code is answered. The one place core codes become tRPC codes. */
const CODE_MAP = {
  /** 400: the input broke a rule; field errors go to `data.issues`. */
  VALIDATION: "BAD_REQUEST",
  /** 404: the user, specialization or enrollment does not exist. */
  NOT_FOUND: "NOT_FOUND",
  /** 409: the pair's rows stayed locked; retryable. */
  LOCK_TIMEOUT: "CONFLICT",
  /** 409: a concurrent change won, or a unique value is taken; `retryable` tells which. */
  CONFLICT: "CONFLICT",
  /** 409: deadlock victim on every retry; retryable. */
  DEADLOCK: "CONFLICT",
  /** 503: the database is unreachable; retryable (with the same idempotency key). */
  UNAVAILABLE: "SERVICE_UNAVAILABLE",
  /** 500: any other database failure; details stay in the server log. */
  DB: "INTERNAL_SERVER_ERROR",
  /** 429: too many calls already wait for this learner's pair in this process; retryable, nothing changed. */
  OVERLOADED: "TOO_MANY_REQUESTS",
} as const satisfies Record<CouplerErrorCode, TRPCCode>;

/** A TRPCError that came from a coupler error; the original is its `cause`. */
export class CouplerTRPCError extends TRPCError {
  readonly couplerCode: CouplerErrorCode;
  readonly retryable: boolean;

  constructor(error: CouplerError) {
    super({ code: CODE_MAP[error.code], message: error.message, cause: error });
    this.couplerCode = error.code;
    this.retryable = error.retryable;
  }
}

/**
 * Translates what a procedure threw. TRPCErrors the API raised itself (auth,
 * input parsing) pass through; coupler errors map by code; anything else is
 * classified by core first (a dropped connection is UNAVAILABLE, not a 500).
 */
export function toTRPCError(error: unknown): TRPCError {
  if (error instanceof CouplerTRPCError) return error;
  const cause = error instanceof TRPCError ? (error.code === "INTERNAL_SERVER_ERROR" ? error.cause : undefined) : error;
  if (cause === undefined) return error instanceof TRPCError ? error : new TRPCError({ code: "INTERNAL_SERVER_ERROR" });
  if (isCouplerError(cause)) return new CouplerTRPCError(cause);
  const classified = toCouplerError(cause, { lockTimeoutMs: 0, noWait: false, attempts: 1 });
  return classified.code === "DB"
    ? new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause })
    : new CouplerTRPCError(classified);
}

export interface Issue {
  path: string;
  message: string;
}

/**
 * Every `data.couplerCode` an error response can carry: a closed union, each
 * with its HTTP status. The first eight are core's codes (CouplerErrorCode,
 * unchanged); the rest name what the API itself refuses before or around a
 * procedure. A client branches on this and on `data.retryable`, never on the
 * message.
 */
export type ApiErrorCode =
  /** 400: the input broke a rule (schema or core); `data.issues` names the fields. Also a batch over MAX_BATCH_SIZE. */
  | "VALIDATION"
  /** 404: the user, specialization or enrollment does not exist; or no such procedure or route. */
  | "NOT_FOUND"
  /** 409: the pair's rows stayed locked; retryable. */
  | "LOCK_TIMEOUT"
  /** 409: a concurrent change won (retryable), or a taken email or refused guard switch (not). */
  | "CONFLICT"
  /** 409: deadlock victim on every retry; retryable. */
  | "DEADLOCK"
  /** 503: the database is unreachable; retryable with the same idempotency key. */
  | "UNAVAILABLE"
  /** 500: a database failure; details stay in the server log. */
  | "DB"
  /** 429: the pair's write-combining queue is full; retryable, nothing changed. */
  | "OVERLOADED"
  /** 400: the body or the `input` parameter is not JSON. */
  | "MALFORMED_JSON"
  /** 401: missing, malformed, badly signed, expired or too long-lived bearer token. */
  | "UNAUTHENTICATED"
  /** 403: the token's role may not call this, or a student reads another learner's records. */
  | "FORBIDDEN"
  /** 405: a query sent as POST, a mutation as GET. */
  | "METHOD_NOT_SUPPORTED"
  /** 408: the request took too long to arrive; retryable. */
  | "TIMEOUT"
  /** 413: the body exceeds MAX_BODY_BYTES. */
  | "PAYLOAD_TOO_LARGE"
  /** 415: the body is not `application/json`. */
  | "UNSUPPORTED_MEDIA_TYPE"
  /** 431: the request line or headers exceed node's 16 KiB limit (a 100 KB URL, a 20 KB header); answered before any route. */
  | "HEADERS_TOO_LARGE"
  /** 429: too many requests; retryable after a pause. */
  | "TOO_MANY_REQUESTS"
  /** 500: anything else; details stay in the server log. */
  | "INTERNAL";

/** The couplerCode and retryable of an error the API raised itself (not a core error), by tRPC code. */
const API_CODES = {
  PARSE_ERROR: ["MALFORMED_JSON", false],
  BAD_REQUEST: ["VALIDATION", false],
  UNPROCESSABLE_CONTENT: ["VALIDATION", false],
  UNAUTHORIZED: ["UNAUTHENTICATED", false],
  PAYMENT_REQUIRED: ["FORBIDDEN", false],
  FORBIDDEN: ["FORBIDDEN", false],
  NOT_FOUND: ["NOT_FOUND", false],
  METHOD_NOT_SUPPORTED: ["METHOD_NOT_SUPPORTED", false],
  TIMEOUT: ["TIMEOUT", true],
  CLIENT_CLOSED_REQUEST: ["TIMEOUT", true],
  CONFLICT: ["CONFLICT", false],
  PRECONDITION_FAILED: ["CONFLICT", false],
  PRECONDITION_REQUIRED: ["CONFLICT", false],
  PAYLOAD_TOO_LARGE: ["PAYLOAD_TOO_LARGE", false],
  UNSUPPORTED_MEDIA_TYPE: ["UNSUPPORTED_MEDIA_TYPE", false],
  TOO_MANY_REQUESTS: ["TOO_MANY_REQUESTS", true],
  INTERNAL_SERVER_ERROR: ["INTERNAL", false],
  NOT_IMPLEMENTED: ["INTERNAL", false],
  BAD_GATEWAY: ["UNAVAILABLE", true],
  SERVICE_UNAVAILABLE: ["UNAVAILABLE", true],
  GATEWAY_TIMEOUT: ["UNAVAILABLE", true],
} as const satisfies Record<TRPCCode, readonly [ApiErrorCode, boolean]>;

/** The extra fields of every error response's `data`. */
export interface ErrorDetails {
  /** What went wrong, for a client to branch on (see ApiErrorCode for the statuses). */
  couplerCode: ApiErrorCode;
  /** Whether sending the same call again (with the same idempotency key) may succeed. */
  retryable: boolean;
  /** Which input fields failed and why (validation errors only), one issue per field. */
  issues?: Issue[];
}

/** `couplerCode` and `retryable` for a tRPC code when no core error says more (the 413 the server answers itself, too). */
export function apiErrorCode(code: TRPCCode, parseError = false): Pick<ErrorDetails, "couplerCode" | "retryable"> {
  const [couplerCode, retryable] = API_CODES[parseError ? "PARSE_ERROR" : code];
  return { couplerCode, retryable };
}

/**
 * The error data every path shares (the tRPC error formatter calls this for
 * /trpc, both its paths, and /api). `input` is the call's raw input, when
 * known: a field absent from it is reported as "required".
 */
export function errorDetails(error: TRPCError, parseError = false, input?: unknown): ErrorDetails {
  const details: ErrorDetails =
    error instanceof CouplerTRPCError
      ? // A 500 is never worth repeating blindly, whatever core thought.
        { couplerCode: error.couplerCode, retryable: error.code !== "INTERNAL_SERVER_ERROR" && error.retryable }
      : apiErrorCode(error.code, parseError);
  const issues = issuesOf(error.cause, input);
  if (issues) details.issues = issues;
  return details;
}

export function describeIssues(issues: Issue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
}

/**
 * Field issues of a core ValidationError or of tRPC's standard-schema input
 * error, written for the person fixing the call: one issue per field (zod
 * reports every failed check, so 1e20 as a user id was both "too big for an
 * integer" and "too big"; the last, the field's own bound, is kept), and a
 * field absent from the input says "required" rather than "expected number,
 * received undefined" or the list of allowed values.
 */
function issuesOf(cause: unknown, input: unknown): Issue[] | undefined {
  const raw = (cause as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(raw)) return undefined;
  const byPath = new Map<string, Issue>();
  for (const issue of raw as { path?: unknown; message?: unknown }[]) {
    const segments = Array.isArray(issue.path) ? issue.path.map(segment) : [];
    const path = segments.join(".");
    const message = typeof issue.message === "string" ? issue.message : "invalid";
    const missing =
      segments.length > 0 && (input === undefined ? MISSING.test(message) : valueAt(input, segments) === undefined);
    byPath.set(path, { path, message: missing ? "required" : message });
  }
  return [...byPath.values()];
}

/** zod's message for an absent field (core's issueMessages.ts says "required"), when the input itself is not at hand. */
const MISSING = /^required$|received undefined$/;

/** The value at `segments` inside `input`, or undefined. */
function valueAt(input: unknown, segments: string[]): unknown {
  let value = input;
  for (const key of segments) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function segment(part: unknown): string {
  const key = typeof part === "object" && part !== null && "key" in part ? (part as { key: unknown }).key : part;
  return String(key);
}
