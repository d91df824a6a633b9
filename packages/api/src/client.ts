import { TRPCClientError, createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "./root.ts";
import type { ApiErrorCode } from "./errors.ts";
import type { CouplerErrorData } from "./trpc.ts";

export { TRPCClientError };
export { isRetryableFailure, retryKeyed, type RetryOptions } from "./retryKeyed.ts";
export type { AppRouter, ApiErrorCode, CouplerErrorData };
export type { ProcedureTypes, RouterRecord } from "./trpcInternals.ts";
/** What a failed call rejects with; `data` carries `couplerCode`, `retryable` and `issues`. */
export type CouplerClientError = TRPCClientError<AppRouter>;
/**
 * Input types of every procedure, e.g. `RouterInputs["progression"]["levelUp"]`.
 *
 * `progression.levelUp`'s optional `idempotencyKey` is 1 to 255 printable
 * ASCII characters without spaces (`"k1"`, a session id, a UUID); anything
 * else is refused with VALIDATION at run time. A key is scoped to (learner,
 * specialization, caller): the same key from another token's user, or for
 * another pair, is another key and applies again. Within the server's
 * retention (COUPLER_IDEMPOTENCY_RETENTION_MS, 24 h by default) a repeat with
 * the same input returns the first result with `replayed: true` and changes
 * nothing; with a different input it is refused (VALIDATION).
 *
 * `specialization` is typed `"PLAYER" | "COACH" | "INTERNSHIP" | (string & {})`:
 * the seed's three tracks as an editor hint, and any other string accepted,
 * because tracks are data (`admin.putTrack`, `admin.removeTrack`; list them
 * with `catalogue`, GET /api/catalogue). An id the server's catalogue does
 * not hold is refused at run time with VALIDATION on `specialization`.
 */
export type RouterInputs = inferRouterInputs<AppRouter>;
/** Output types of every procedure, as plain JSON (dates are ISO strings). */
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type CouplerClient = TRPCClient<AppRouter>;

export interface CouplerClientOptions {
  /** Batch calls made in the same tick into one request (default true). Keep `maxItems` ≤ the server's MAX_BATCH_SIZE. */
  batch?: boolean;
  maxItems?: number;
}

/**
 * A typed client for the Coupler API. `url` is the server's base URL (as
 * printed by `pnpm start`); `token` a JWT string, or a function returning the
 * current one. Imports only types from the server.
 */
export function createCouplerClient(
  url: string,
  token?: string | (() => string | undefined),
  options: CouplerClientOptions = {},
): CouplerClient {
  const endpoint = url.replace(/\/+$/, "").replace(/(\/trpc)?$/, "/trpc");
  const headers = () => {
    const value = typeof token === "function" ? token() : token;
    return value ? { authorization: `Bearer ${value}` } : {};
  };
  const link =
    options.batch === false
      ? httpLink({ url: endpoint, headers })
      : httpBatchLink({ url: endpoint, headers, maxItems: options.maxItems ?? 50 });
  return createTRPCClient<AppRouter>({ links: [link] });
}

/**
 * Whether `error` is a failed Coupler call, narrowing it so `error.data?.couplerCode`,
 * `retryable` and `issues` type-check. A guard rather than `instanceof` alone:
 * a consumer may load a second copy of @trpc/client.
 */
export function isCouplerClientError(error: unknown): error is CouplerClientError {
  return error instanceof TRPCClientError || (error instanceof Error && error.name === "TRPCClientError");
}
