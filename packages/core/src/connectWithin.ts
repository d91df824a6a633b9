import type pg from "pg";
import { NoConnectionError } from "./errors/NoConnectionError.ts";

/**
 * A client from `pool` within `ms` milliseconds (Infinity: as long as the
 * pool's own `connectionTimeoutMillis` lets it wait). pg-pool has no
 * per-call timeout, so the wait races a timer; a client that arrives after
 * the timer won is released at once, so none leaks.
 * Throws NoConnectionError when the time ran out (nothing was applied), or
 * whatever `pool.connect()` threw.
 */
export async function connectWithin(pool: pg.Pool, ms: number): Promise<pg.PoolClient> {
  if (ms === Number.POSITIVE_INFINITY) return pool.connect();
  const budget = Math.max(0, Math.ceil(ms));
  if (budget === 0) throw new NoConnectionError(0);
  const connecting = pool.connect();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), budget);
  });
  try {
    const client = await Promise.race([connecting, expired]);
    if (client) return client;
  } finally {
    clearTimeout(timer);
  }
  // The pool still owes this request a client: give it straight back when it comes.
  connecting.then(
    (late) => late.release(),
    () => undefined,
  );
  throw new NoConnectionError(budget);
}
