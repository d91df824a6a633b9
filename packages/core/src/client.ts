import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import type { Logger } from "pino";
import { redactSecrets } from "./redact.ts";
import * as schema from "./schema.ts";

export type Schema = typeof schema;
/** A Drizzle handle: the pool-wide one, or one bound to a transaction's client. */
export type Db = NodePgDatabase<Schema>;

export interface DatabaseOptions {
  connectionString: string;
  /** Pool size. */
  max?: number;
  /** How long `pool.connect()` waits for a free client before failing. */
  connectionTimeoutMillis?: number;
  idleTimeoutMillis?: number;
  /** Server-side statement timeout for every connection, in ms (0 = none). */
  statementTimeoutMs?: number;
  applicationName?: string;
  logger?: Logger;
}

export interface Database {
  pool: pg.Pool;
  db: Db;
  close(): Promise<void>;
}

/**
 * What a log line may say about a driver error: its code and its message
 * (scrubbed), never the error object. pg-pool hangs the whole pg Client on an
 * idle client's error (`err.client`: the backend's cancel key `secretKey`,
 * its `processID`, the last SQL text), and a logger would dump it.
 */
export function describeDbError(error: unknown): { code?: string; message: string } {
  const code = (error as { code?: unknown } | null)?.code;
  const message = redactSecrets(error instanceof Error ? error.message : String(error));
  return typeof code === "string" ? { code, message } : { message };
}

/**
 * A pg Pool and its Drizzle handle. The Pool gets an 'error' listener: an idle
 * client whose backend is killed emits 'error', and without a listener Node
 * would crash the process. `close()` ends the pool and resolves only once
 * every client's connection has ended (pg-pool's `end()` resolves as soon as
 * it has asked them to), so a caller that stops PostgreSQL next does not cut
 * a connection still saying goodbye; it waits at most CLOSE_WAIT_MS for them.
 */
export function createDatabase(options: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    idleTimeoutMillis: options.idleTimeoutMillis ?? 30_000,
    application_name: options.applicationName ?? "coupler",
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  pool.on("error", (error) => {
    options.logger?.warn({ error: describeDbError(error) }, "idle database client failed; the pool discarded it");
  });
  const live = new Set<pg.PoolClient>();
  // pg-pool removes its listener while a client is checked out. An error that
  // arrives before the borrower attaches its own (a FATAL in the same packet as
  // the connect completion, at a server shutdown) would crash the process; this
  // one stays for the client's life. The next query on the client fails anyway.
  pool.on("connect", (client) => {
    client.on("error", (error) => options.logger?.debug({ error: describeDbError(error) }, "database client failed"));
    live.add(client);
    client.once("end", () => live.delete(client));
  });
  const db = drizzle({ client: pool, schema });
  let closed: Promise<void> | undefined;
  return {
    pool,
    db,
    close: () => (closed ??= endPool(pool, live)),
  };
}

/** How long `close()` waits for the pool's connections to end after `pool.end()`, in ms. */
const CLOSE_WAIT_MS = 5_000;

async function endPool(pool: pg.Pool, live: Set<pg.PoolClient>): Promise<void> {
  const ending = [...live].map((client) => new Promise<void>((resolve) => client.once("end", () => resolve())));
  await pool.end();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS).unref()));
  await Promise.race([Promise.all(ending), bound]);
  clearTimeout(timer);
}

const clientDbs = new WeakMap<pg.PoolClient, Db>();
/** A Drizzle handle over one checked-out client (what a transaction runs on). */
export function dbForClient(client: pg.PoolClient): Db {
  let db = clientDbs.get(client);
  if (!db) {
    db = drizzle({ client, schema });
    clientDbs.set(client, db);
  }
  return db;
}
