/**
 * The Coupler API's typed client, for services outside this repository.
 * The code lives in @coupler/api (`src/client.ts`, which the API's own tests
 * use); this package ships it as one bundled module (esbuild) and one bundled
 * .d.ts (dts-bundle-generator) typed against `AppRouter` from ./appRouter.ts,
 * so an installed copy needs only @trpc/client and @trpc/server.
 */
import type { TRPCClient, TRPCClientError } from "@trpc/client";
import type { inferRouterInputs, inferRouterOutputs } from "@trpc/server";
import {
  createCouplerClient as createClient,
  isCouplerClientError as isClientError,
  type CouplerClientOptions,
} from "@coupler/api/client";

/**
 * Retries a call that carries an idempotency key: over network failures
 * (fetch failed: connection refused or reset, as in a rolling restart, where
 * `error.data` is undefined) and failures the server marks `retryable`, with
 * exponential back-off and jitter. A call without `idempotencyKey` is refused
 * (TypeError, nothing sent): repeating it could apply it twice.
 *
 * @example
 * await retryKeyed((input) => api.progression.levelUp.mutate(input), {
 *   userId: 3, specialization: "PLAYER", xpGained: 150, sessionsCompleted: 1, idempotencyKey: "session-8812",
 * });
 */
export { isRetryableFailure, retryKeyed, type RetryOptions } from "@coupler/api/client";
import type { AppRouter } from "./appRouter.ts";

export { TRPCClientError } from "@trpc/client";
export type { AppRouter, CouplerErrorShape } from "./appRouter.ts";
/**
 * `error.data.couplerCode`, on every failed call: a closed union, each code
 * with its HTTP status (VALIDATION 400, MALFORMED_JSON 400, UNAUTHENTICATED
 * 401, FORBIDDEN 403, NOT_FOUND 404, METHOD_NOT_SUPPORTED 405, TIMEOUT 408,
 * LOCK_TIMEOUT/DEADLOCK/CONFLICT 409, PAYLOAD_TOO_LARGE 413,
 * UNSUPPORTED_MEDIA_TYPE 415, OVERLOADED/TOO_MANY_REQUESTS 429, HEADERS_TOO_LARGE 431, INTERNAL/DB 500,
 * UNAVAILABLE 503). Branch on it and on `error.data.retryable`, never on the message.
 */
export type { ApiErrorCode, CouplerClientOptions, CouplerErrorData } from "@coupler/api/client";

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
/** What a failed call rejects with; `data` carries `couplerCode`, `retryable` and `issues`. */
export type CouplerClientError = TRPCClientError<AppRouter>;

/**
 * A typed client for the Coupler API. `url` is the server's base URL (as
 * printed by `pnpm start`); `token` a JWT string, or a function returning the
 * current one.
 */
export const createCouplerClient: (
  url: string,
  token?: string | (() => string | undefined),
  options?: CouplerClientOptions,
) => CouplerClient = createClient;

/** Whether `error` is a failed Coupler call; narrows it so `error.data?.couplerCode`, `retryable` and `issues` type-check. */
export const isCouplerClientError: (error: unknown) => error is CouplerClientError = isClientError;
