import { randomBytes } from "node:crypto";
import pg from "pg";
import { createDatabase, type Database } from "../client.ts";

export interface TestDatabase extends Database, AsyncDisposable {
  /** Connection string of this database. */
  url: string;
  name: string;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/** Replaces the database name of a connection string. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/**
 * Clones the migrated template into a new database of its own, so each test
 * file is isolated and files can run in parallel. Cloning is much faster than
 * migrating again.
 */
export async function createTestDatabase(adminUrl: string, template: string, options: { max?: number } = {}): Promise<TestDatabase> {
  const name = `coupler_test_${randomBytes(6).toString("hex")}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE ${template}`);
  const url = withDatabase(adminUrl, name);
  const database = createDatabase({ connectionString: url, max: options.max ?? 20 });
  let dropped: Promise<void> | undefined;
  const drop = () =>
    (dropped ??= (async () => {
      await database.close();
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    })());
  return { ...database, url, name, drop, [Symbol.asyncDispose]: drop };
}

export async function adminQuery(adminUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}
