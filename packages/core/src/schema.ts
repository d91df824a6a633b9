import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  unique,
} from "drizzle-orm/pg-core";

/**
 * Tables and constraints of Coupler. The seed's names (`specialization_progress`,
 * `user_licenses`, `license_progressions` and their columns) are a contract.
 *
 * Constraints that Drizzle cannot express (the mutual DEFERRABLE foreign keys
 * between progress and license, the coupling guard trigger, the append-only
 * audit log) live in the hand-written migration `0001_coupling_constraints.sql`.
 *
 * Ready for Citus: the learner's user id is the distribution column of every
 * per-learner table, so every primary key and unique constraint includes it,
 * and so does every foreign key between per-learner tables. The catalogue
 * (`specializations`, `specialization_levels`) is what reference tables hold.
 * `0002_citus_colocation.sql` made the keys so; citusRules.test.ts keeps them so.
 */

const timestamps = {
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp("updated_at", { withTimezone: true }).notNull().defaultNow(),
};

/**
 * A learner id: the distribution column of every per-learner table on Citus,
 * so every table that names a learner uses the same type (Citus co-locates
 * only columns of one type). `bigint` in the database, `number` in
 * TypeScript: exact while ids stay below 2^53 (Number.MAX_SAFE_INTEGER), and
 * the API accepts at most 2^31 - 1 (inputs.ts).
 */
const learnerId = (name: string) => bigint(name, { mode: "number" });

export const users = pgTable("users", {
  id: learnerId("id").primaryKey().generatedAlwaysAsIdentity(),
  name: text("name").notNull(),
  /** Unique through `user_emails` (one row per email, written with the user by createUser), not by a key here. */
  email: text("email").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/**
 * One row per registered email: the uniqueness of `users.email`. A table of
 * its own because on Citus `users` is distributed by id and cannot enforce a
 * key without it; this one is distributed by email, so its primary key is a
 * shard-local key. createUser writes both rows in one transaction (on Citus,
 * usually a two-shard transaction: 2PC). No foreign key to `users`: the two
 * are distributed by different columns.
 */
export const userEmails = pgTable("user_emails", {
  email: text("email").primaryKey(),
  userId: learnerId("user_id").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
});

/** The specialization catalogue: one row per specialization. */
export const specializations = pgTable(
  "specializations",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    maxLevel: integer("max_level").notNull(),
  },
  (t) => [check("specializations_max_level_positive", sql`${t.maxLevel} >= 1`)],
);

/**
 * One row per reachable level of a specialization, with the total XP needed to
 * reach it. Levels reference this table, so "level within 1..max" is a plain
 * foreign key rather than a trigger.
 */
export const specializationLevels = pgTable(
  "specialization_levels",
  {
    specializationId: text("specialization_id")
      .notNull()
      .references(() => specializations.id, { onDelete: "cascade" }),
    level: integer("level").notNull(),
    minXp: bigint("min_xp", { mode: "number" }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.specializationId, t.level] }),
    check("specialization_levels_level_positive", sql`${t.level} >= 1`),
    check("specialization_levels_min_xp_non_negative", sql`${t.minXp} >= 0`),
  ],
);

export const specializationProgress = pgTable(
  "specialization_progress",
  {
    id: bigint("id", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    studentId: learnerId("student_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    specializationId: text("specialization_id")
      .notNull()
      .references(() => specializations.id),
    currentLevel: integer("current_level").notNull().default(1),
    totalXp: bigint("total_xp", { mode: "number" }).notNull().default(0),
    completedSessions: integer("completed_sessions").notNull().default(0),
    ...timestamps,
  },
  (t) => [
    primaryKey({ name: "specialization_progress_pkey", columns: [t.studentId, t.id] }),
    unique("specialization_progress_student_specialization_key").on(t.studentId, t.specializationId),
    check("specialization_progress_level_positive", sql`${t.currentLevel} >= 1`),
    check("specialization_progress_total_xp_non_negative", sql`${t.totalXp} >= 0`),
    check("specialization_progress_sessions_non_negative", sql`${t.completedSessions} >= 0`),
    foreignKey({
      name: "specialization_progress_level_in_range_fkey",
      columns: [t.specializationId, t.currentLevel],
      foreignColumns: [specializationLevels.specializationId, specializationLevels.level],
    }),
  ],
);

export const userLicenses = pgTable(
  "user_licenses",
  {
    id: bigint("id", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    userId: learnerId("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    specializationType: text("specialization_type")
      .notNull()
      .references(() => specializations.id),
    currentLevel: integer("current_level").notNull().default(1),
    maxAchievedLevel: integer("max_achieved_level").notNull().default(1),
    ...timestamps,
  },
  (t) => [
    primaryKey({ name: "user_licenses_pkey", columns: [t.userId, t.id] }),
    unique("user_licenses_user_specialization_key").on(t.userId, t.specializationType),
    check("user_licenses_level_positive", sql`${t.currentLevel} >= 1`),
    check("user_licenses_max_achieved_gte_current", sql`${t.maxAchievedLevel} >= ${t.currentLevel}`),
    foreignKey({
      name: "user_licenses_level_in_range_fkey",
      columns: [t.specializationType, t.currentLevel],
      foreignColumns: [specializationLevels.specializationId, specializationLevels.level],
    }),
    foreignKey({
      name: "user_licenses_max_level_in_range_fkey",
      columns: [t.specializationType, t.maxAchievedLevel],
      foreignColumns: [specializationLevels.specializationId, specializationLevels.level],
    }),
  ],
);

/** Every level change of a license, written in the transaction that made it. */
export const licenseProgressions = pgTable(
  "license_progressions",
  {
    id: bigint("id", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    /** The learner, copied from the license: the distribution column, and half of the license's key. */
    userId: learnerId("user_id").notNull(),
    userLicenseId: bigint("user_license_id", { mode: "number" }).notNull(),
    fromLevel: integer("from_level").notNull(),
    toLevel: integer("to_level").notNull(),
    reason: text("reason").notNull(),
    actor: text("actor").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: "license_progressions_pkey", columns: [t.userId, t.id] }),
    foreignKey({
      name: "license_progressions_license_fkey",
      columns: [t.userId, t.userLicenseId],
      foreignColumns: [userLicenses.userId, userLicenses.id],
    }).onDelete("cascade"),
    index("license_progressions_license_idx").on(t.userId, t.userLicenseId, t.id),
    check("license_progressions_level_changes", sql`${t.fromLevel} <> ${t.toLevel}`),
    check("license_progressions_levels_positive", sql`${t.fromLevel} >= 1 and ${t.toLevel} >= 1`),
  ],
);

/**
 * Append-only record of every coupler operation that committed. No foreign
 * keys: the trail must outlive the rows it describes. UPDATE, DELETE and
 * TRUNCATE are refused by a trigger.
 */
export const couplerAuditLog = pgTable(
  "coupler_audit_log",
  {
    id: bigint("id", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
    operation: text("operation").notNull(),
    userId: learnerId("user_id").notNull(),
    specializationId: text("specialization_id").notNull(),
    xpDelta: bigint("xp_delta", { mode: "number" }).notNull().default(0),
    sessionsDelta: integer("sessions_delta").notNull().default(0),
    fromLevel: integer("from_level"),
    toLevel: integer("to_level"),
    actor: text("actor").notNull(),
    idempotencyKey: text("idempotency_key"),
    outcome: text("outcome").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: "coupler_audit_log_pkey", columns: [t.userId, t.id] }),
    index("coupler_audit_log_pair_idx").on(t.userId, t.specializationId, t.id),
    check("coupler_audit_log_outcome", sql`${t.outcome} in ('applied', 'noop')`),
  ],
);

/**
 * Results of idempotent operations. A key belongs to a learner, a
 * specialization and a caller (the call's actor): the same key from another
 * caller, or for another pair, is another key. Within its retention a
 * repeated key with the same request returns `response`; with a different
 * request it is refused. Older keys count as unused and are purged in
 * batches (`purgeExpiredIdempotencyKeys`).
 */
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    key: text("key").notNull(),
    operation: text("operation").notNull(),
    userId: learnerId("user_id").notNull(),
    specializationId: text("specialization_id").notNull(),
    caller: text("caller").notNull(),
    requestHash: text("request_hash").notNull(),
    response: jsonb("response").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    // The name is a contract: runAttempts retries a race on it.
    primaryKey({ name: "idempotency_keys_pkey", columns: [t.userId, t.specializationId, t.caller, t.key] }),
    index("idempotency_keys_created_at_idx").on(t.createdAt),
  ],
);

/** One-row switch of the coupling guard (see `guard.ts`). */
export const couplingGuard = pgTable(
  "coupling_guard",
  {
    id: boolean("id").primaryKey().default(true),
    enabled: boolean("enabled").notNull().default(false),
    changedAt: timestamp("changed_at", { withTimezone: true }).notNull().defaultNow(),
    changedBy: text("changed_by").notNull().default("migration"),
  },
  (t) => [check("coupling_guard_single_row", sql`${t.id}`)],
);

export type User = typeof users.$inferSelect;
export type SpecializationProgress = typeof specializationProgress.$inferSelect;
export type UserLicense = typeof userLicenses.$inferSelect;
export type LicenseProgression = typeof licenseProgressions.$inferSelect;
export type AuditLogEntry = typeof couplerAuditLog.$inferSelect;
