import { fileURLToPath } from "node:url";
import { migrate as drizzleMigrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";
import { drizzle } from "drizzle-orm/node-postgres";

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../drizzle", import.meta.url));
export const MIN_SERVER_VERSION_NUM = 150000;

/** Throws unless `versionNum` (server_version_num, e.g. 150004) is PostgreSQL 15 or newer. */
export function assertServerVersion(versionNum: number): void {
  if (!Number.isInteger(versionNum) || versionNum < MIN_SERVER_VERSION_NUM) {
    throw new Error(`Coupler needs PostgreSQL 15 or newer; the server is ${versionNum} (server_version_num)`);
  }
}

/**
 * Applies the committed SQL migrations. Refuses servers older than
 * PostgreSQL 15. Safe to run concurrently: drizzle's migrator runs in one
 * transaction, and an advisory lock keeps two processes from racing.
 */
export async function migrate(connectionString: string): Promise<void> {
  const client = new pg.Client({ connectionString, application_name: "coupler-migrate" });
  client.on("error", () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>("select current_setting('server_version_num') as v");
    assertServerVersion(Number(rows[0]?.v ?? 0));
    await client.query("select pg_advisory_lock(hashtext('coupler-migrate'))");
    try {
      await drizzleMigrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client.query("select pg_advisory_unlock(hashtext('coupler-migrate'))");
    }
  } finally {
    await client.end();
  }
}
