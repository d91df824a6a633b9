/**
 * Retries for Coupler calls that are safe to repeat: those that carry an
 * idempotency key (the server applies a key once and replays its first
 * result), over the failures a client meets in a rolling restart, a failover
 * or a busy pair.
 */

export interface RetryOptions {
  /** Attempts in all, the first included (default 8). */
  attempts?: number;
  /** The first back-off, in ms (default 100); it doubles each retry, up to `maxDelayMs`. */
  baseDelayMs?: number;
  /** The longest back-off, in ms (default 2000). Each wait is drawn at random up to the bound ("full jitter"). */
  maxDelayMs?: number;
  /** Called before each wait with the failure and the attempt that failed (1 for the first). */
  onRetry?: (error: unknown, attempt: number) => void;
}

/** Socket-level failures: the API is restarting, draining, unreachable, or dropped the connection mid-call. */
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_CLOSED",
]);

/**
 * Whether repeating a failed call, with the same idempotency key, may
 * succeed: the server said so (`error.data.retryable`: LOCK_TIMEOUT,
 * DEADLOCK, a lost race, UNAVAILABLE, OVERLOADED), or the call never got an
 * answer because of the network (fetch failed: connection refused, reset,
 * timed out), where `error.data` is undefined and its outcome is unknown.
 */
export function isRetryableFailure(error: unknown): boolean {
  const data = (error as { data?: { retryable?: unknown } } | null)?.data;
  if (data && typeof data === "object") return data.retryable === true;
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 5; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string" && NETWORK_CODES.has(code)) return true;
    if (cause.name === "TypeError" && cause.message === "fetch failed") return true;
    cause = cause.cause;
  }
  return false;
}

/**
 * Calls `call(input)` and, when it fails in a way a repeat may fix
 * (`isRetryableFailure`), calls it again with the same input, so the same
 * idempotency key, after an exponential back-off with jitter, up to
 * `attempts` times; then rethrows the last failure. Any other failure
 * (VALIDATION, FORBIDDEN, a CONFLICT that is not retryable) is thrown at once.
 *
 * Only for calls whose input carries `idempotencyKey`: a mutation without one
 * may have been applied before the connection dropped, and repeating it would
 * apply it twice. Such a call is refused: the returned promise rejects with a
 * TypeError before anything is sent. Reads need no key; retry them yourself.
 *
 * @example
 * const result = await retryKeyed(
 *   (input) => api.progression.levelUp.mutate(input),
 *   { userId: 3, specialization: "PLAYER", xpGained: 150, sessionsCompleted: 1, idempotencyKey: "session-8812" },
 * );
 */
export async function retryKeyed<TInput extends { idempotencyKey?: string | undefined }, TOutput>(
  call: (input: TInput) => Promise<TOutput>,
  input: TInput,
  options: RetryOptions = {},
): Promise<TOutput> {
  if (typeof input.idempotencyKey !== "string" || input.idempotencyKey === "") {
    throw new TypeError(
      "retryKeyed: refusing to retry a call without an idempotencyKey; a repeat could apply it twice. " +
        "Give the call a key (e.g. the session id), or call it once and handle the failure.",
    );
  }
  const attempts = Math.max(1, options.attempts ?? 8);
  const base = options.baseDelayMs ?? 100;
  const max = options.maxDelayMs ?? 2_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(input);
    } catch (error) {
      if (attempt >= attempts || !isRetryableFailure(error)) throw error;
      options.onRetry?.(error, attempt);
      const bound = Math.min(max, base * 2 ** (attempt - 1));
      await new Promise((resolve) => setTimeout(resolve, Math.random() * bound));
    }
  }
}
