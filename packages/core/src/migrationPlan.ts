import { readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";

/**
 * What applying one migration does to a live database, for an operator
 * planning an upgrade (`pnpm db:migrate --plan`, the API's refusal to start on
 * an old schema, deploy/README.md's rollback table).
 */
export interface MigrationImpact {
  /** One line: what the migration changes. */
  summary: string;
  /** Tables copied in full (a type change): their size sets how long the locks below are held. */
  rewrites: readonly string[];
  /**
   * Tables locked ACCESS EXCLUSIVE (every read and write waits) for the rest
   * of the migration's transaction: primary key swaps, column type changes,
   * SET NOT NULL, dropped constraints.
   */
  exclusiveLocks: readonly string[];
  /** Needs a maintenance window on a large database: it rewrites tables under an exclusive lock. */
  maintenanceWindow: boolean;
}

/**
 * Every committed migration's impact, by its tag (meta/_journal.json). A test
 * (migrationPlan.test.ts) fails when a migration is added without its entry.
 * All migrations run in one transaction (migrate.ts), so every lock listed is
 * held until the last pending migration commits.
 */
export const MIGRATION_IMPACT: Readonly<Record<string, MigrationImpact>> = {
  "0000_init": {
    summary: "creates the tables",
    rewrites: [],
    exclusiveLocks: [],
    maintenanceWindow: false,
  },
  "0001_coupling_constraints": {
    summary:
      "the specialization catalogue, mutual deferrable foreign keys (validated by a scan), the coupling guard (off) and the audit log's append-only triggers",
    rewrites: [],
    exclusiveLocks: [],
    maintenanceWindow: false,
  },
  "0002_citus_colocation": {
    summary:
      "primary keys become (user, id); license_progressions gains user_id (every row updated, then NOT NULL) and a foreign key on it",
    rewrites: [],
    exclusiveLocks: ["specialization_progress", "user_licenses", "license_progressions", "coupler_audit_log"],
    maintenanceWindow: false,
  },
  "0003_idempotency_scope": {
    summary:
      "idempotency_keys gains caller (every row updated, then NOT NULL), a primary key with it, and an index on created_at",
    rewrites: [],
    exclusiveLocks: ["idempotency_keys"],
    maintenanceWindow: false,
  },
  "0004_citus_ready": {
    summary:
      "learner and history ids become bigint; one account per email moves to user_emails (users_email_unique dropped); the coupling guard re-created shard-safe",
    rewrites: [
      "users",
      "specialization_progress",
      "user_licenses",
      "license_progressions",
      "coupler_audit_log",
      "idempotency_keys",
    ],
    exclusiveLocks: [
      "users",
      "specialization_progress",
      "user_licenses",
      "license_progressions",
      "coupler_audit_log",
      "idempotency_keys",
    ],
    maintenanceWindow: true,
  },
  "0005_replication_safe_functions": {
    summary:
      "the coupling guard and audit functions pin their search_path, and the guard lets a logical-replication apply worker through (Citus shard moves); functions replaced, no table touched",
    rewrites: [],
    exclusiveLocks: [],
    maintenanceWindow: false,
  },
};

/** A migration not yet applied to a database, with its impact. */
export interface PendingMigration extends MigrationImpact {
  /** e.g. "0004_citus_ready" (the SQL file's name without .sql). */
  tag: string;
}

interface JournalEntry {
  tag: string;
  when: number;
}

/**
 * The committed migrations the database at `connectionString` has not
 * applied, in order, each with its impact (MIGRATION_IMPACT). Reads
 * drizzle's bookkeeping (`drizzle.__drizzle_migrations`, the newest
 * `created_at`, as migrate() does) and changes nothing; a database never
 * migrated has every migration pending. Throws when the database cannot be
 * reached, or when a migration has no entry in MIGRATION_IMPACT.
 */
export async function pendingMigrations(
  connectionString: string,
  migrationsFolder: string,
): Promise<PendingMigration[]> {
  const journal = JSON.parse(readFileSync(join(migrationsFolder, "meta/_journal.json"), "utf8")) as {
    entries: JournalEntry[];
  };
  const client = new pg.Client({ connectionString, application_name: "coupler-migrate" });
  client.on("error", () => {});
  await client.connect();
  let lastApplied = Number.NEGATIVE_INFINITY;
  try {
    const { rows } = await client.query<{ exists: boolean }>(
      "select to_regclass('drizzle.__drizzle_migrations') is not null as exists",
    );
    if (rows[0]?.exists) {
      const { rows: last } = await client.query<{ created_at: string }>(
        'select created_at from "drizzle"."__drizzle_migrations" order by created_at desc limit 1',
      );
      if (last[0]) lastApplied = Number(last[0].created_at);
    }
  } finally {
    await client.end();
  }
  return journal.entries
    .filter((entry) => entry.when > lastApplied)
    .map((entry) => {
      const impact = MIGRATION_IMPACT[entry.tag];
      if (!impact) throw new Error(`migration ${entry.tag} has no entry in MIGRATION_IMPACT (migrationPlan.ts)`);
      return { tag: entry.tag, ...impact };
    });
}

/**
 * `pending` as lines for a person: one per migration, with what it rewrites
 * and locks, and "MAINTENANCE WINDOW" where it needs one. Empty when nothing
 * is pending.
 */
export function describePendingMigrations(pending: readonly PendingMigration[]): string[] {
  return pending.map((m) => {
    const parts = [`${m.tag}: ${m.summary}`];
    if (m.rewrites.length > 0) parts.push(`rewrites ${m.rewrites.join(", ")}`);
    if (m.exclusiveLocks.length > 0) parts.push(`ACCESS EXCLUSIVE lock on ${m.exclusiveLocks.join(", ")}`);
    if (m.maintenanceWindow)
      parts.push("MAINTENANCE WINDOW: every read and write of those tables waits until it commits");
    return parts.join("; ");
  });
}
