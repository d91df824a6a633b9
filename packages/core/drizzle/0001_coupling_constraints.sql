-- Constraints Drizzle's schema cannot express, and the specialization catalogue.

-- The catalogue. The TypeScript enum SPECIALIZATIONS (specializations.ts) lists
-- the same ids; a test keeps the two in step.
INSERT INTO "specializations" ("id", "name", "max_level") VALUES
  ('PLAYER', 'Player', 10),
  ('COACH', 'Coach', 8),
  ('INTERNSHIP', 'Internship', 5);
--> statement-breakpoint
-- Total XP needed for level L: step * (L-1) * L / 2 (PLAYER 0, 100, 300, 600, ...).
INSERT INTO "specialization_levels" ("specialization_id", "level", "min_xp")
SELECT s.id, l.level, c.step * (l.level - 1) * l.level / 2
FROM "specializations" s
JOIN (VALUES ('PLAYER', 100), ('COACH', 150), ('INTERNSHIP', 200)) AS c(id, step) ON c.id = s.id
CROSS JOIN LATERAL generate_series(1, s.max_level) AS l(level);
--> statement-breakpoint
INSERT INTO "coupling_guard" ("id", "enabled", "changed_by") VALUES (true, false, 'migration');
--> statement-breakpoint

-- Mutual foreign keys, checked at COMMIT: a progress row without its license,
-- or a license without its progress, can never be committed, whoever writes.
ALTER TABLE "specialization_progress"
  ADD CONSTRAINT "specialization_progress_license_fkey"
  FOREIGN KEY ("student_id", "specialization_id")
  REFERENCES "user_licenses" ("user_id", "specialization_type")
  DEFERRABLE INITIALLY DEFERRED;
--> statement-breakpoint
ALTER TABLE "user_licenses"
  ADD CONSTRAINT "user_licenses_progress_fkey"
  FOREIGN KEY ("user_id", "specialization_type")
  REFERENCES "specialization_progress" ("student_id", "specialization_id")
  DEFERRABLE INITIALLY DEFERRED;
--> statement-breakpoint

-- The coupling guard: at COMMIT, a transaction that leaves a pair with
-- progress.current_level <> license.current_level is rejected, whoever wrote
-- it. Switched by the one row of coupling_guard (off during a legacy rollout).
CREATE FUNCTION "coupler_coupling_guard"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  uid integer;
  spec text;
  progress_level integer;
  license_level integer;
BEGIN
  IF NOT coalesce((SELECT enabled FROM coupling_guard WHERE id), false) THEN
    RETURN NULL;
  END IF;
  IF TG_TABLE_NAME = 'specialization_progress' THEN
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
  FOR EACH ROW EXECUTE FUNCTION "coupler_coupling_guard"();
--> statement-breakpoint
CREATE CONSTRAINT TRIGGER "coupling_guard_license"
  AFTER INSERT OR UPDATE OF "current_level", "user_id", "specialization_type" ON "user_licenses"
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION "coupler_coupling_guard"();
--> statement-breakpoint
-- Fire even under session_replication_role = replica (bulk loads, logical replicas).
ALTER TABLE "specialization_progress" ENABLE ALWAYS TRIGGER "coupling_guard_progress";
--> statement-breakpoint
ALTER TABLE "user_licenses" ENABLE ALWAYS TRIGGER "coupling_guard_license";
--> statement-breakpoint

-- The audit log is append-only.
CREATE FUNCTION "coupler_audit_log_append_only"() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'coupler_audit_log is append-only (% refused)', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "coupler_audit_log_no_update_delete"
  BEFORE UPDATE OR DELETE ON "coupler_audit_log"
  FOR EACH ROW EXECUTE FUNCTION "coupler_audit_log_append_only"();
--> statement-breakpoint
CREATE TRIGGER "coupler_audit_log_no_truncate"
  BEFORE TRUNCATE ON "coupler_audit_log"
  FOR EACH STATEMENT EXECUTE FUNCTION "coupler_audit_log_append_only"();
--> statement-breakpoint
ALTER TABLE "coupler_audit_log" ENABLE ALWAYS TRIGGER "coupler_audit_log_no_update_delete";
--> statement-breakpoint
ALTER TABLE "coupler_audit_log" ENABLE ALWAYS TRIGGER "coupler_audit_log_no_truncate";
