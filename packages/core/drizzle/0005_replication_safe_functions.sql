-- Database code that survives logical replication: a shard move on Citus
-- (citus_move_shard_placement, citus_rebalance_start, citus_drain_node copy a
-- shard and then replay its changes through a logical-replication apply
-- worker) and a logical replica on plain PostgreSQL. Rewrites no table; takes
-- only the brief locks of CREATE OR REPLACE FUNCTION and ALTER FUNCTION.
--
-- 1. The coupling guard skips the rows an apply worker writes. They were
-- checked when they were first written: on the origin, or on the shard a move
-- copies them from. In the apply worker the guard's own reads would run with
-- an empty search_path and, on Citus, against a shard the move has not
-- finished copying, and one failed row stops the move at "Final Catchup"
-- forever. Its triggers stay ENABLE ALWAYS, so a session that sets
-- session_replication_role = replica to bulk-load rows is still checked: only
-- a backend that is a logical-replication worker is let through.
CREATE OR REPLACE FUNCTION "coupler_coupling_guard"() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  uid bigint;
  spec text;
  progress_level integer;
  license_level integer;
BEGIN
  IF current_setting('session_replication_role') = 'replica'
     AND (SELECT backend_type FROM pg_stat_get_activity(pg_backend_pid())) = 'logical replication worker' THEN
    RETURN NULL;
  END IF;
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
-- 2. Every function Coupler installs resolves names in the schema the
-- migrations run in, whatever the caller's search_path (an apply worker's is
-- empty): pinned here, pg_catalog first so no table shadows a built-in.
DO $$
BEGIN
  EXECUTE format('ALTER FUNCTION coupler_coupling_guard() SET search_path = pg_catalog, %I', current_schema());
  EXECUTE format('ALTER FUNCTION coupler_audit_log_append_only() SET search_path = pg_catalog, %I', current_schema());
END;
$$;
