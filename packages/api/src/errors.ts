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
  return classified.code === "DB" ? new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause }) : new CouplerTRPCError(classified);
}

export interface Issue {
  path: string;
  message: string;
}

/** The extra fields of an error response's `data`. */
export interface ErrorDetails {
  couplerCode?: CouplerErrorCode;
  retryable?: boolean;
  /** Which input fields failed and why (validation errors only). */
  issues?: Issue[];
}

export function errorDetails(error: TRPCError): ErrorDetails {
  const details: ErrorDetails = {};
  if (error instanceof CouplerTRPCError) {
    details.couplerCode = error.couplerCode;
    if (error.code !== "INTERNAL_SERVER_ERROR") details.retryable = error.retryable;
  }
  const issues = issuesOf(error.cause);
  if (issues) details.issues = issues;
  return details;
}

export function describeIssues(issues: Issue[]): string {
  return issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ");
}

/** Field issues of a core ValidationError or of tRPC's standard-schema input error. */
function issuesOf(cause: unknown): Issue[] | undefined {
  const raw = (cause as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(raw)) return undefined;
  return raw.map((issue: { path?: unknown; message?: unknown }) => ({
    path: Array.isArray(issue.path) ? issue.path.map(segment).join(".") : "",
    message: typeof issue.message === "string" ? issue.message : "invalid",
  }));
}

function segment(part: unknown): string {
  const key = typeof part === "object" && part !== null && "key" in part ? (part as { key: unknown }).key : part;
  return String(key);
}
