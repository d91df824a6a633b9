-- Citus co-location. The learner's user id is the distribution column of every
-- per-learner table (users.id, specialization_progress.student_id,
-- user_licenses.user_id, license_progressions.user_id, coupler_audit_log.user_id,
-- idempotency_keys.user_id). Citus enforces a primary key, a unique constraint
-- or a foreign key between distributed tables only when it includes the
-- distribution column, so every key here is made to include it. Nothing about
-- what a row means changes: the ids stay unique on their own (identity), the
-- keys just name the learner first. Foreign keys to the catalogue
-- (specializations, specialization_levels: reference tables) stay as they are,
-- and so do the mutual DEFERRABLE keys and the coupling guard, which were
-- already keyed on (user, specialization).

-- The history referenced a license by its id alone; it is re-pointed below.
ALTER TABLE "license_progressions" DROP CONSTRAINT "license_progressions_user_license_id_user_licenses_id_fk";
--> statement-breakpoint
ALTER TABLE "user_licenses" DROP CONSTRAINT "user_licenses_pkey";
--> statement-breakpoint
ALTER TABLE "user_licenses" ADD CONSTRAINT "user_licenses_pkey" PRIMARY KEY ("user_id", "id");
--> statement-breakpoint
ALTER TABLE "specialization_progress" DROP CONSTRAINT "specialization_progress_pkey";
--> statement-breakpoint
ALTER TABLE "specialization_progress" ADD CONSTRAINT "specialization_progress_pkey" PRIMARY KEY ("student_id", "id");
--> statement-breakpoint

-- The history names its learner, filled from its license. A history row whose
-- license is gone cannot exist under the old foreign key; if one was planted
-- with the keys switched off, SET NOT NULL fails and the migration rolls back.
ALTER TABLE "license_progressions" ADD COLUMN "user_id" integer;
--> statement-breakpoint
UPDATE "license_progressions" h SET "user_id" = l."user_id" FROM "user_licenses" l WHERE l."id" = h."user_license_id";
--> statement-breakpoint
ALTER TABLE "license_progressions" ALTER COLUMN "user_id" SET NOT NULL;
--> statement-breakpoint
ALTER TABLE "license_progressions" DROP CONSTRAINT "license_progressions_pkey";
--> statement-breakpoint
ALTER TABLE "license_progressions" ADD CONSTRAINT "license_progressions_pkey" PRIMARY KEY ("user_id", "id");
--> statement-breakpoint
ALTER TABLE "license_progressions" ADD CONSTRAINT "license_progressions_license_fkey"
  FOREIGN KEY ("user_id", "user_license_id") REFERENCES "user_licenses" ("user_id", "id") ON DELETE CASCADE;
--> statement-breakpoint
DROP INDEX "license_progressions_license_idx";
--> statement-breakpoint
CREATE INDEX "license_progressions_license_idx" ON "license_progressions" USING btree ("user_id", "user_license_id", "id");
--> statement-breakpoint

-- The audit log keeps its append-only triggers (they fire on rows, not on DDL).
ALTER TABLE "coupler_audit_log" DROP CONSTRAINT "coupler_audit_log_pkey";
--> statement-breakpoint
ALTER TABLE "coupler_audit_log" ADD CONSTRAINT "coupler_audit_log_pkey" PRIMARY KEY ("user_id", "id");
