-- What Citus needs beyond co-location (0002), and runs the same on plain
-- PostgreSQL. SCALING.md has the why; `pnpm db:migrate --citus` distributes.

-- 1. Learner ids and the ids the history points at become bigint. Citus
-- co-locates tables only on distribution columns of one type, and it
-- distributes tables with identity columns only when those are bigint.
-- Changing an identity column's type changes its sequence with it. Every
-- table is rewritten (a full copy under an ACCESS EXCLUSIVE lock): run this
-- migration in a maintenance window on a large database.
-- The guard triggers name columns in UPDATE OF, which blocks a type change;
-- they are dropped here and re-created below.
DROP TRIGGER "coupling_guard_progress" ON "specialization_progress";
--> statement-breakpoint
DROP TRIGGER "coupling_guard_license" ON "user_licenses";
--> statement-breakpoint
ALTER TABLE "users" ALTER COLUMN "id" SET DATA TYPE bigint;
--> statement-breakpoint
ALTER TABLE "specialization_progress" ALTER COLUMN "id" SET DATA TYPE bigint, ALTER COLUMN "student_id" SET DATA TYPE bigint;
--> statement-breakpoint
ALTER TABLE "user_licenses" ALTER COLUMN "id" SET DATA TYPE bigint, ALTER COLUMN "user_id" SET DATA TYPE bigint;
--> statement-breakpoint
ALTER TABLE "license_progressions" ALTER COLUMN "user_id" SET DATA TYPE bigint, ALTER COLUMN "user_license_id" SET DATA TYPE bigint;
--> statement-breakpoint
ALTER TABLE "coupler_audit_log" ALTER COLUMN "user_id" SET DATA TYPE bigint;
--> statement-breakpoint
ALTER TABLE "idempotency_keys" ALTER COLUMN "user_id" SET DATA TYPE bigint;
--> statement-breakpoint

-- 2. One account per email, kept by a table of its own. users is distributed
-- by id on Citus and cannot hold a key without it; user_emails is distributed
-- by email, so its primary key is shard-local. createUser writes both rows in
-- one transaction. The constraint on users goes.
CREATE TABLE "user_emails" (
	"email" text PRIMARY KEY NOT NULL,
	"user_id" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
INSERT INTO "user_emails" ("email", "user_id", "created_at") SELECT "email", "id", "created_at" FROM "users";
--> statement-breakpoint
ALTER TABLE "users" DROP CONSTRAINT "users_email_unique";
--> statement-breakpoint

-- 3. The coupling guard, shard-safe. On Citus the trigger fires on a shard,
-- where TG_TABLE_NAME is the shard's name (specialization_progress_102008),
-- so the side is passed as the trigger's argument instead. The two reads stay
-- by the learner's id: on a shard they run as local tasks on the co-located
-- shards of the same worker, and coupling_guard is a reference table with a
-- copy on every worker. Citus refuses a remote task inside a trigger, so a
-- read that ever left the worker would fail loudly, never read elsewhere.
CREATE OR REPLACE FUNCTION "coupler_coupling_guard"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  uid bigint;
  spec text;
  progress_level integer;
  license_level integer;
BEGIN
  IF NOT coalesce((SELECT enabled FROM coupling_guard WHERE id), false) THEN
    RETURN NULL;
  END IF;
  IF TG_ARGV[0] = 'progress' THEN
    uid := NEW.student_id; spec := NEW.specialization_id;
  ELSE
    uid := NEW.user_id; spec := NEW.specialization_type;
  END IF;
  SELECT current_level INTO progress_level FROM specialization_progress
    WHERE student_id = uid AND specialization_id = spec;
  SELECT current_level INTO license_level FROM user_licenses
    WHERE user_id = uid AND specialization_type = spec;
  IF progress_level IS DISTINCT FROM license_level
     AND progress_level IS NOT NULL AND license_level IS NOT NULL THEN
    RAISE EXCEPTION 'coupling guard: user % specialization % would commit progress level % with license level %',
        uid, spec, progress_level, license_level
      USING ERRCODE = 'integrity_constraint_violation', CONSTRAINT = 'coupling_guard',
            HINT = 'Change both rows in one transaction (the coupler does), or repair with sync.';
  END IF;
  RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "coupling_guard_progress"
  AFTER INSERT OR UPDATE OF "current_level", "student_id", "specialization_id" ON "specialization_progress"
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION "coupler_coupling_guard"('progress');
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "coupling_guard_license"
  AFTER INSERT OR UPDATE OF "current_level", "user_id", "specialization_type" ON "user_licenses"
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION "coupler_coupling_guard"('license');
--> statement-breakpoint
ALTER TABLE "specialization_progress" ENABLE ALWAYS TRIGGER "coupling_guard_progress";
--> statement-breakpoint
ALTER TABLE "user_licenses" ENABLE ALWAYS TRIGGER "coupling_guard_license";
