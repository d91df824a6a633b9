import {
  TRPCError,
  initTRPC,
  type TRPCDefaultErrorShape,
  type TRPC_ERROR_CODE_KEY,
  type TRPC_ERROR_CODE_NUMBER,
} from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import type { OpenApiMeta } from "trpc-to-openapi";
import { z } from "zod";
import { inputs, missingInputMessage } from "@coupler/core";
import type { Principal, Role } from "./auth.ts";
import type { Context } from "./context.ts";
import { CouplerTRPCError, describeIssues, errorDetails, toTRPCError, type ErrorDetails } from "./errors.ts";

/**
 * The one place an error response is shaped, for /trpc (the lean path and
 * tRPC's adapter, single and batched) and the REST routes under /api alike:
 * the tRPC code and HTTP status, `couplerCode` and `retryable` on every error
 * (see ApiErrorCode in errors.ts), and field issues for bad input. Messages
 * are for the person fixing the call. A 500 never shows its cause: SQL and
 * stacks stay in the server log. A body that is not JSON is reported as
 * PARSE_ERROR (HTTP 400), like JSON-RPC does.
 */
export const errorFormatter = ({
  shape,
  error,
  input,
}: {
  shape: TRPCDefaultErrorShape;
  error: TRPCError;
  input?: unknown;
}): CouplerErrorShape => {
  const parseError = error.code === "BAD_REQUEST" && error.cause instanceof SyntaxError;
  const details = errorDetails(error, parseError, input);
  return {
    code: parseError ? TRPC_ERROR_CODES_BY_KEY.PARSE_ERROR : shape.code,
    message: messageFor(error, shape.message, parseError, details),
    data: {
      code: parseError ? "PARSE_ERROR" : shape.data.code,
      httpStatus: shape.data.httpStatus,
      path: shape.data.path,
      ...details,
    },
  };
};

/** tRPC's own messages that leave the caller guessing, rewritten (matched on tRPC 11's wording). */
function messageFor(error: TRPCError, message: string, parseError: boolean, details: ErrorDetails): string {
  if (error.code === "INTERNAL_SERVER_ERROR") return "Internal server error";
  if (parseError) return `request is not valid JSON: ${message}`;
  if (details.issues) {
    // Core's own message lists every zod issue; this one has one per field.
    const operation = error instanceof CouplerTRPCError ? /^(\w+): invalid input/.exec(message)?.[1] : undefined;
    return `${operation ? `${operation}: ` : ""}invalid input (${describeIssues(details.issues)})`;
  }
  if (error.code === "UNSUPPORTED_MEDIA_TYPE" && message.startsWith("Unsupported content-type")) {
    const type = /"([^"]*)"?$/.exec(message)?.[1];
    return `unsupported content-type${type ? ` "${type}"` : ""}: send the input as application/json`;
  }
  if (error.code === "UNSUPPORTED_MEDIA_TYPE" && message.startsWith("Missing content-type")) {
    return "missing content-type header: send the input as application/json (content-type: application/json)";
  }
  return message;
}

/**
 * An error the server answers itself, outside any procedure call (a body over
 * the limit, a batch over the limit, an unknown path), shaped by the same
 * formatter as every other error. Returns the HTTP status and tRPC's error
 * shape (wrap it as `{ error }` on /trpc; REST sends `{ message, code, data }`).
 */
export function serverError(code: TRPC_ERROR_CODE_KEY, message: string): CouplerErrorShape {
  const error = new TRPCError({ code, message });
  const httpStatus = getHTTPStatusCodeFromError(error);
  return errorFormatter({ shape: { code: TRPC_ERROR_CODES_BY_KEY[code], message, data: { code, httpStatus } }, error });
}

/**
 * What an error response carries. Typed with tRPC's code unions (not plain
 * number/string) so it fits `TRPCErrorShape`: otherwise tRPC falls back to its
 * default shape and clients cannot see `couplerCode`, `retryable` or `issues`.
 */
export interface CouplerErrorShape {
  code: TRPC_ERROR_CODE_NUMBER;
  message: string;
  data: CouplerErrorData;
}

export interface CouplerErrorData extends ErrorDetails {
  code: TRPC_ERROR_CODE_KEY;
  httpStatus: number;
  path: string | undefined;
}

/** Each procedure's `meta.openapi` places it in the REST routes under /api and in /openapi.json. */
const t = initTRPC.context<Context>().meta<OpenApiMeta>().create({ errorFormatter, isDev: false });

export const router = t.router;

/**
 * The REST route of a procedure (under /api) and its entry in /openapi.json.
 * Every procedure needs a bearer token, so every route is protected.
 */
export function rest(method: "GET" | "POST", path: `/${string}`, summary: string): OpenApiMeta {
  const tag = path.split("/")[1] ?? "";
  return { openapi: { method, path, summary, protect: true, tags: [tag], errorResponses: ERROR_RESPONSES } };
}

/** The error statuses any procedure may answer (see errors.ts); the body is tRPC's error shape. */
const ERROR_RESPONSES: Record<number, string> = {
  400: "data.couplerCode VALIDATION (data.issues names the fields, one issue each) or MALFORMED_JSON",
  401: "data.couplerCode UNAUTHENTICATED: missing, malformed, badly signed, expired or too long-lived bearer token",
  403: "data.couplerCode FORBIDDEN: the token's role may not call this, or a student reads another learner's records",
  404: "data.couplerCode NOT_FOUND: user, specialization or enrollment missing",
  409: "data.couplerCode LOCK_TIMEOUT, DEADLOCK or CONFLICT: retry when data.retryable is true (a race); not for a taken email, a refused guard switch or a track in use",
  413: "data.couplerCode PAYLOAD_TOO_LARGE: request body over MAX_BODY_BYTES",
  415: "data.couplerCode UNSUPPORTED_MEDIA_TYPE: send the input as application/json",
  500: "data.couplerCode INTERNAL or DB: internal server error (details in the server log)",
  503: "data.couplerCode UNAVAILABLE: database (or the identity provider's key set, AUTH_JWKS_URL) unreachable; retry with the same idempotency key",
};
export const createCallerFactory = t.createCallerFactory;

/** Every procedure's errors go through `toTRPCError`. */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) throw toTRPCError(result.error);
  return result;
});

export const publicProcedure = t.procedure.use(mapErrors);

/** A verified token with one of `roles` (any role when none given); adds `ctx.principal`. */
function requireRole(...roles: Role[]) {
  return t.middleware(({ ctx, next }) => {
    if (!ctx.auth.ok) {
      // The identity provider's key set could not be fetched: not the caller's fault, and retryable.
      const code = ctx.auth.unavailable ? "SERVICE_UNAVAILABLE" : "UNAUTHORIZED";
      throw new TRPCError({ code, message: ctx.auth.reason });
    }
    const { principal } = ctx.auth;
    if (roles.length > 0 && !roles.includes(principal.role)) {
      throw new TRPCError({
        code: "FORBIDDEN",
        message: `requires role ${roles.join(" or ")}; the token's role is ${principal.role}`,
      });
    }
    return next({ ctx: { principal } });
  });
}

/** `bench.*` exists only in bench mode; otherwise it answers like an unknown path, before any auth check. */
const benchOnly = t.middleware(({ ctx, path, next }) => {
  if (!ctx.services.benchMode)
    throw new TRPCError({ code: "NOT_FOUND", message: `No procedure found on path "${path}"` });
  return next();
});

export const authedProcedure = publicProcedure.use(requireRole());
export const adminProcedure = publicProcedure.use(requireRole("admin"));
/** Instructors and admins: the roles that award XP. */
export const staffProcedure = publicProcedure.use(requireRole("instructor", "admin"));
export const benchStaffProcedure = publicProcedure.use(benchOnly).use(requireRole("instructor", "admin"));
export const benchAdminProcedure = publicProcedure.use(benchOnly).use(requireRole("admin"));

/**
 * Reads of one learner's records (chain `.input(schema)` after it):
 * instructors and admins read anyone's, a student only their own (`userId`
 * equal to the token's `sub`). `userId` is checked first, before the rest of
 * the input is validated, so a student learns nothing about another learner's
 * records from a validation error; a missing input names all of `schema`'s
 * fields (not only userId).
 */
export function learnerReadProcedure(schema: z.ZodType) {
  const owner = z.object(
    { userId: inputs.userId },
    { error: (issue) => (issue.input === undefined ? missingInputMessage(schema) : undefined) },
  );
  return authedProcedure.input(owner).use(({ ctx, input, next }) => {
    if (!mayRead(ctx.principal, input.userId)) {
      throw new TRPCError({
        code: "FORBIDDEN",
        message: `a student may read only their own records, not user ${input.userId}'s`,
      });
    }
    return next();
  });
}

function mayRead(principal: Principal, userId: number): boolean {
  return principal.role !== "student" || principal.userId === userId;
}
