import { fileURLToPath } from "node:url";
import { readMigrationFiles } from "drizzle-orm/migrator";
import pg from "pg";

export const MIGRATIONS_FOLDER = fileURLToPath(new URL("../drizzle", import.meta.url));
export const MIN_SERVER_VERSION_NUM = 150000;

/** Throws unless `versionNum` (server_version_num, e.g. 150004) is PostgreSQL 15 or newer. */
export function assertServerVersion(versionNum: number): void {
  if (!Number.isInteger(versionNum) || versionNum < MIN_SERVER_VERSION_NUM) {
    throw new Error(`Coupler needs PostgreSQL 15 or newer; the server is ${versionNum} (server_version_num)`);
  }
}

export interface MigrateOptions {
  /** Folder of migrations and their meta/_journal.json (default: core's own, MIGRATIONS_FOLDER). */
  migrationsFolder?: string;
}

const LOCK = "select pg_advisory_xact_lock(hashtext('coupler-migrate'))";

/**
 * Applies the committed SQL migrations and returns how many it applied.
 * Refuses servers older than PostgreSQL 15.
 *
 * Everything happens in one transaction on one connection: a
 * transaction-level advisory lock first, then drizzle's bookkeeping table
 * and every pending migration, then COMMIT, which also releases the lock.
 * Concurrent calls therefore apply each migration once (the second waits,
 * then finds nothing pending), and nothing depends on session state, so it
 * is safe through a transaction pooler (PgBouncer in transaction mode), where
 * a session-level lock could be taken and released on different server
 * connections. Drizzle's own migrator reads the bookkeeping outside its
 * transaction, so this reads the same files and table itself.
 */
export async function migrate(connectionString: string, options: MigrateOptions = {}): Promise<number> {
  const migrations = readMigrationFiles({ migrationsFolder: options.migrationsFolder ?? MIGRATIONS_FOLDER });
  const client = new pg.Client({ connectionString, application_name: "coupler-migrate" });
  client.on("error", () => {});
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>("select current_setting('server_version_num') as v");
    assertServerVersion(Number(rows[0]?.v ?? 0));
    await client.query("begin");
    try {
      await client.query(LOCK);
      await client.query('create schema if not exists "drizzle"');
      await client.query(
        'create table if not exists "drizzle"."__drizzle_migrations" (id serial primary key, hash text not null, created_at bigint)',
      );
      const { rows: last } = await client.query<{ created_at: string }>(
        'select created_at from "drizzle"."__drizzle_migrations" order by created_at desc limit 1',
      );
      const lastApplied = last[0] ? Number(last[0].created_at) : Number.NEGATIVE_INFINITY;
      let applied = 0;
      for (const migration of migrations) {
        if (migration.folderMillis <= lastApplied) continue;
        for (const statement of migration.sql) await client.query(statement);
        await client.query('insert into "drizzle"."__drizzle_migrations" (hash, created_at) values ($1, $2)', [
          migration.hash,
          migration.folderMillis,
        ]);
        applied++;
      }
      await client.query("commit");
      return applied;
    } catch (error) {
      await client.query("rollback").catch(() => {});
      throw error;
    }
  } finally {
    await client.end();
  }
}
