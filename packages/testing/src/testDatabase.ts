import { randomBytes } from "node:crypto";
import { createDatabase, distributeOnCitus, migrate, type Database } from "@coupler/core";
import { citusClusterAt } from "./citusCluster.ts";
import { adminQuery, withDatabase } from "@coupler/embedded";

export interface TestDatabase extends Database, AsyncDisposable {
  /** Connection string of this database. */
  url: string;
  name: string;
  /** Closes the pool and drops the database. */
  drop(): Promise<void>;
}

/**
 * Clones the migrated template into a new database of its own, so each test
 * file is isolated and files can run in parallel. Cloning is much faster than
 * migrating again.
 */
export async function createTestDatabase(
  adminUrl: string,
  template: string,
  options: { max?: number } = {},
): Promise<TestDatabase> {
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

/**
 * A database of its own on the Citus cluster whose `postgres` databases are
 * at these URLs: created on every node, migrated and distributed as `pnpm
 * db:migrate --citus` does. Dropped on every node by `drop()`.
 */
export async function createCitusTestDatabase(
  coordinatorAdminUrl: string,
  workerAdminUrls: string[],
  options: { max?: number } = {},
): Promise<TestDatabase> {
  const citus = await citusClusterAt(coordinatorAdminUrl, workerAdminUrls).createDatabase();
  try {
    await migrate(citus.url);
    await distributeOnCitus(citus.url);
  } catch (error) {
    await citus.drop();
    throw error;
  }
  const database = createDatabase({ connectionString: citus.url, max: options.max ?? 20 });
  let dropped: Promise<void> | undefined;
  const drop = () =>
    (dropped ??= (async () => {
      await database.close();
      await citus.drop();
    })());
  return { ...database, url: citus.url, name: citus.name, drop, [Symbol.asyncDispose]: drop };
}
