import type pg from "pg";
import { dbForClient, type Db } from "./client.ts";
import { connectWithin } from "./connectWithin.ts";
import { isConnectionError } from "./errors/index.ts";

export type IsolationLevel = "read committed" | "repeatable read" | "serializable";

export interface TransactionOptions {
  isolationLevel: IsolationLevel;
  accessMode: "read write" | "read only";
  /**
   * The transaction's budget for waiting, in ms: the wait for a pooled
   * connection counts against it, and what is left becomes the
   * transaction-local lock_timeout (SET LOCAL). Omitted or 0 = no budget
   * (server default lock_timeout; the pool's own connection timeout).
   */
  lockTimeoutMs?: number;
}

/**
 * Points where tests and the chaos suite inject real failures. Each receives
 * the checked-out client, so it can e.g. terminate that client's backend.
 */
export interface TransactionFaults {
  /** After the client is checked out, before BEGIN. */
  beforeBegin?(client: pg.PoolClient): Promise<void>;
  /** Before COMMIT, after every statement of the transaction. */
  beforeCommit?(client: pg.PoolClient): Promise<void>;
}

/**
 * Runs `fn` in one transaction on one pooled client and always gives the
 * client back. Why not `db.transaction()`: drizzle-orm 0.45's node-postgres
 * session issues BEGIN outside its try block, so a failed BEGIN leaks the
 * client, and a failed ROLLBACK replaces the original error. Here a client
 * whose connection failed is destroyed instead of returned, the original
 * error is what the caller sees, and BEGIN + SET LOCAL share one round trip.
 * The wait for the client counts against `options.lockTimeoutMs`: a call
 * whose budget runs out first throws NoConnectionError (nothing applied).
 */
export async function runTransaction<T>(
  pool: pg.Pool,
  options: TransactionOptions,
  fn: (tx: Db, client: pg.PoolClient) => Promise<T>,
  faults?: TransactionFaults,
): Promise<T> {
  const budget = options.lockTimeoutMs;
  if (budget !== undefined) checkLockTimeout(budget);
  const waitStarted = performance.now();
  const client = await connectWithin(pool, budget ? budget : Number.POSITIVE_INFINITY);
  // What the wait left of the budget; at least 1 ms, as 0 would mean "no timeout" to PostgreSQL.
  const lockTimeoutMs = budget ? Math.max(1, Math.ceil(budget - (performance.now() - waitStarted))) : budget;
  let discard: Error | undefined;
  let open = false;
  // pg-pool removes its own 'error' listener while a client is checked out. A
  // backend killed between two statements makes the client emit 'error', which
  // without a listener crashes the process; record it and let the next query fail.
  const onError = (error: Error) => {
    discard ??= error;
  };
  client.on("error", onError);
  try {
    await faults?.beforeBegin?.(client);
    // Open before BEGIN is sent: when "BEGIN; SET LOCAL …" fails after its BEGIN (a statement
    // timeout, say), the transaction is open and aborted; ROLLBACK ends it (and is harmless if not).
    open = true;
    await client.query(beginStatement({ ...options, lockTimeoutMs }));
    const result = await fn(dbForClient(client), client);
    await faults?.beforeCommit?.(client);
    open = false; // A failed COMMIT ends the transaction on the server too.
    await client.query("COMMIT");
    return result;
  } catch (error) {
    if (isConnectionError(error)) {
      discard = error instanceof Error ? error : new Error(String(error));
    } else if (open) {
      try {
        await client.query("ROLLBACK");
      } catch (rollbackError) {
        discard = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
    }
    throw error;
  } finally {
    client.removeListener("error", onError);
    // release(err) destroys the client rather than returning a broken one to the pool.
    client.release(discard);
  }
}

function beginStatement({ isolationLevel, accessMode, lockTimeoutMs }: TransactionOptions): string {
  const begin = `BEGIN ISOLATION LEVEL ${isolationLevel.toUpperCase()} ${accessMode.toUpperCase()}`;
  if (lockTimeoutMs === undefined) return begin;
  // SET takes no bind parameters; the value is a checked integer, so formatting it is safe.
  // SET LOCAL ends with the transaction, so a pooled connection keeps its default.
  return `${begin}; SET LOCAL lock_timeout = ${lockTimeoutMs}`;
}

function checkLockTimeout(lockTimeoutMs: number): void {
  if (!Number.isInteger(lockTimeoutMs) || lockTimeoutMs < 0) {
    throw new RangeError(`lockTimeoutMs must be a non-negative integer, got ${lockTimeoutMs}`);
  }
}
