import type pg from "pg";

/**
 * The tables whose ids order a learner's rows: a license's history
 * (`license_progressions`) and a pair's audit trail (`coupler_audit_log`).
 * Both are read in id order (the chain a step starts from, the integrity
 * audit, `history`, `validate`), and both have the key (user_id, id).
 */
export const ID_ORDERED_TABLES = ["license_progressions", "coupler_audit_log"] as const;

/** The trigger's name, and its function's. */
export const LEARNER_ID_ORDER = "coupler_learner_ids_ascending";
const FUNCTION = LEARNER_ID_ORDER;
const TRIGGER = LEARNER_ID_ORDER;

/**
 * On Citus every node draws these ids from a sequence range of its own (a
 * worker's starts at its group id × 2^48; the coordinator's at 1). A row
 * inserted on the node that holds the learner (direct routing), or through
 * the coordinator, gets that node's next value. When a learner's shard moves
 * to a node whose range is lower than the one it left (a rebalance, a drain,
 * `citus_move_shard_placement`), or the calls switch from direct routing to
 * the coordinator, its new rows got ids below its old ones, and its history
 * read back out of order: the next step started from the wrong level, and
 * the audit chain broke (found by `pnpm chaos --citus`, which moves a
 * learner's shard to the worker with the lower range).
 *
 * This trigger keeps a learner's ids increasing: a new row whose id is not
 * above the learner's highest gets the highest + 1. It reads the shard it
 * fires on (the learner's rows are all there), by the index on (user_id,
 * id). Two transactions of one learner in that case (two specializations:
 * two pair locks) take turns on an advisory lock, so they never pick the
 * same id. It is an ordinary trigger (fires in sessions, not in the
 * logical-replication apply worker of a shard move, where copied rows must
 * keep their ids), and Citus creates it on a moved shard after the copy.
 * Installed by `distributeOnCitus` only: on one server one sequence already
 * orders the ids.
 */
const CREATE_FUNCTION = `CREATE OR REPLACE FUNCTION ${FUNCTION}() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  highest bigint;
BEGIN
  EXECUTE format('SELECT max(id) FROM %I.%I WHERE user_id = $1', TG_TABLE_SCHEMA, TG_TABLE_NAME)
    INTO highest USING NEW.user_id;
  IF highest IS NOT NULL AND NEW.id <= highest THEN
    PERFORM pg_advisory_xact_lock(hashtext('${FUNCTION}'), hashtext(NEW.user_id::text));
    EXECUTE format('SELECT max(id) FROM %I.%I WHERE user_id = $1', TG_TABLE_SCHEMA, TG_TABLE_NAME)
      INTO highest USING NEW.user_id;
    NEW.id := highest + 1;
  END IF;
  RETURN NEW;
END;
$$`;

/**
 * Installs the learner-id-order trigger (see CREATE_FUNCTION's comment) on
 * ID_ORDERED_TABLES where it is missing, in the caller's transaction (on
 * Citus with `citus.enable_unsafe_triggers` set, so it reaches the shards).
 * Returns the tables it was added to now.
 */
export async function ensureLearnerIdOrder(client: pg.Client): Promise<string[]> {
  await client.query(CREATE_FUNCTION);
  const { rows } = await client.query<{ table: string }>(
    `select c.relname as table from pg_trigger t join pg_class c on c.oid = t.tgrelid
     where t.tgname = $1 and c.relnamespace = current_schema()::regnamespace`,
    [TRIGGER],
  );
  const present = new Set(rows.map((r) => r.table));
  const added = ID_ORDERED_TABLES.filter((table) => !present.has(table));
  for (const table of added)
    await client.query(
      `CREATE TRIGGER ${TRIGGER} BEFORE INSERT ON "${table}" FOR EACH ROW EXECUTE FUNCTION ${FUNCTION}()`,
    );
  return added;
}
