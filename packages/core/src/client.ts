import { drizzle, type NodePgDatabase } from "drizzle-orm/node-postgres";
import pg from "pg";
import type { Logger } from "pino";
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
 * A pg Pool and its Drizzle handle. The Pool gets an 'error' listener: an idle
 * client whose backend is killed emits 'error', and without a listener Node
 * would crash the process.
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
    options.logger?.warn({ err: error }, "idle database client failed; the pool discarded it");
  });
  // pg-pool removes its listener while a client is checked out. An error that
  // arrives before the borrower attaches its own (a FATAL in the same packet as
  // the connect completion, at a server shutdown) would crash the process; this
  // one stays for the client's life. The next query on the client fails anyway.
  pool.on("connect", (client) => {
    client.on("error", (error) => options.logger?.debug({ err: error }, "database client failed"));
  });
  const db = drizzle({ client: pool, schema });
  let closed: Promise<void> | undefined;
  return {
    pool,
    db,
    close: () => (closed ??= pool.end()),
  };
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
