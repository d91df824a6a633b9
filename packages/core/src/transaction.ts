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
  /**
   * Statements sent after BEGIN in its round trip (each with a snapshot of
   * its own), made for the connection they are sent on; their results
   * reach `fn` as `begun`, with how long that round trip took (`beginMs`).
   * Their text must be safe to send as is: no parameters. They set the lock
   * timeout themselves (`lockTimeoutMs`: what the wait for the connection
   * left of the budget), and BEGIN is sent without SET LOCAL: Citus keeps
   * the whole text of a query that holds a SET LOCAL and replays it on
   * every connection to another node that the transaction opens later
   * (`ShardTables.claimOn`).
   */
  beginWith?: (client: pg.PoolClient, lockTimeoutMs: number | undefined) => readonly string[];
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
  fn: (tx: Db, client: pg.PoolClient, begun: pg.QueryResult[], beginMs: number) => Promise<T>,
  faults?: TransactionFaults,
): Promise<T> {
  const budget = options.lockTimeoutMs;
  if (budget !== undefined) checkLockTimeout(budget);
  const waitStarted = performance.now();
  const client = await connectWithin(pool, budget ? budget : Number.POSITIVE_INFINITY);
  // What the wait left of the budget; at least 1 ms, as 0 would mean "no timeout" to PostgreSQL.
  const lockTimeoutMs = budget ? Math.max(1, Math.ceil(budget - (performance.now() - waitStarted))) : budget;
  return holding(client, async (broken) => {
    let open = false;
    try {
      await faults?.beforeBegin?.(client);
      // Open before BEGIN is sent: when "BEGIN; SET LOCAL …" fails after its BEGIN (a statement
      // timeout, say), the transaction is open and aborted; ROLLBACK ends it (and is harmless if not).
      open = true;
      const { beginWith } = options;
      const begin = beginWith
        ? [beginStatement({ ...options, lockTimeoutMs: undefined }), ...beginWith(client, lockTimeoutMs)].join("; ")
        : beginStatement({ ...options, lockTimeoutMs });
      // A query of several statements answers with one result per statement (pg).
      const beginStarted = performance.now();
      const begun = (await client.query(begin)) as pg.QueryResult | pg.QueryResult[];
      const beginMs = performance.now() - beginStarted;
      const result = await fn(dbForClient(client), client, Array.isArray(begun) ? begun : [begun], beginMs);
      await faults?.beforeCommit?.(client);
      open = false; // A failed COMMIT ends the transaction on the server too.
      await client.query("COMMIT");
      return result;
    } catch (error) {
      if (open && !isConnectionError(error)) {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackError) {
          broken(rollbackError);
        }
      }
      throw error;
    }
  });
}

/**
 * Runs `fn`, which sends exactly one statement, on one pooled client with
 * no transaction block around it, and always gives the client back (as
 * `runTransaction` does). PostgreSQL runs a lone statement as a transaction
 * of its own, and every part of it (joins, subqueries) sees one snapshot:
 * for a read, BEGIN and COMMIT would only add two round trips. A transaction
 * pooler hands the statement to one server connection, as it would a
 * transaction. `faults.beforeBegin` runs before the statement; there is no
 * COMMIT, so `beforeCommit` does not run.
 */
export async function runStatement<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  faults?: TransactionFaults,
): Promise<T> {
  const client = await connectWithin(pool, Number.POSITIVE_INFINITY);
  return holding(client, async () => {
    await faults?.beforeBegin?.(client);
    return fn(client);
  });
}

/**
 * Runs `use` on a checked-out client and releases it: destroyed rather than
 * returned when its connection failed (an 'error' event, a connection error
 * thrown, or a failure `use` reports through `broken`, like a failed
 * ROLLBACK), returned to the pool otherwise. `use`'s error is rethrown as is.
 */
async function holding<T>(client: pg.PoolClient, use: (broken: (error: unknown) => void) => Promise<T>): Promise<T> {
  let discard: Error | undefined;
  const broken = (error: unknown) => {
    discard ??= error instanceof Error ? error : new Error(String(error));
  };
  // pg-pool removes its own 'error' listener while a client is checked out. A
  // backend killed between two statements makes the client emit 'error', which
  // without a listener crashes the process; record it and let the next query fail.
  client.on("error", broken);
  try {
    return await use(broken);
  } catch (error) {
    if (isConnectionError(error)) broken(error);
    throw error;
  } finally {
    client.removeListener("error", broken);
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
