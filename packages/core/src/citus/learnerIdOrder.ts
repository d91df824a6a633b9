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
 * The transaction-local setting by which a transaction says its statements
 * order the learner's ids themselves (`ORDERED_IDS`), so the trigger is
 * skipped for its rows: a transaction on the learner's claimed shard tables
 * sets it in its claim (`ShardTables.claimOn`), and its write statement
 * draws each history and audit id as the trigger would (`orderedId` in the
 * write statement), in a prepared statement instead of a PL/pgSQL call with
 * a query planned afresh per row (the largest part of what the shard tables
 * still cost a worker above one server).
 */
export const LEARNER_IDS_SETTING = "coupler.learner_ids";
export const ORDERED_IDS = "ordered";

/**
 * The keys of the advisory lock on a learner (`user`, an SQL expression of
 * its id) under which its new row's id is chosen, held to COMMIT: taken by
 * the trigger, and by a claimed transaction in its claim
 * (`ShardTables.claimOn`).
 */
export function learnerIdLockKeys(user: string): string {
  return `hashtext('${FUNCTION}'), hashtext((${user})::text)`;
}

/**
 * On Citus every node draws these ids from a sequence range of its own (a
 * worker's starts at its group id × 2^48; the coordinator's at 1), and the
 * node that plans an INSERT evaluates the default: the learner's worker under
 * direct routing, the coordinator otherwise, the old worker for a call a
 * stale map sent there. When a learner's shard moves to a node whose range is
 * lower than the one it left (a rebalance, a drain,
 * `citus_move_shard_placement`), or its calls go through the coordinator
 * after direct ones, its new rows got ids below its old ones, and its history
 * read back out of order: the next step started from the wrong level, and
 * the audit chain broke (found by `pnpm chaos --citus`, which moves a
 * learner's shard to the worker with the lower range).
 *
 * This trigger keeps each learner's ids increasing in commit order: a new
 * row whose id is not above the learner's highest gets the highest + 1. It
 * reads the shard it fires on (the learner's rows are all there) by the
 * (user_id, id) key, after taking a transaction-scoped advisory lock on the
 * learner, so two transactions of one learner (two specializations: two
 * pair locks) take turns from their first row to their COMMIT and never pick
 * the same id. Every row of a learner is written on the node holding its
 * shard, so the lock is always taken there. An ordinary trigger: it fires in
 * sessions, not in the logical-replication apply worker of a shard move,
 * where copied rows keep their ids; Citus creates it on a moved shard after
 * the copy. Installed by `distributeOnCitus` only: on one server one
 * sequence, drawn under the pair's lock, already orders the ids.
 *
 * It fires only where the transaction has not said it orders the ids itself
 * (`LEARNER_IDS_SETTING`, tested in the trigger's WHEN clause, which costs
 * an expression, not a function call).
 */
const CREATE_FUNCTION = `CREATE OR REPLACE FUNCTION ${FUNCTION}() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
  highest bigint;
BEGIN
  PERFORM pg_advisory_xact_lock(${learnerIdLockKeys("NEW.user_id")});
  EXECUTE format('SELECT max(id) FROM %I.%I WHERE user_id = $1', TG_TABLE_SCHEMA, TG_TABLE_NAME)
    INTO highest USING NEW.user_id;
  IF NEW.id <= highest THEN
    NEW.id := highest + 1;
  END IF;
  RETURN NEW;
END;
$$`;

/**
 * Installs the learner-id-order trigger (see CREATE_FUNCTION's comment) on
 * ID_ORDERED_TABLES where it is missing, and replaces one installed before
 * it had its WHEN clause, in the caller's transaction (on Citus with
 * `citus.enable_unsafe_triggers` set, so it reaches the shards). Returns
 * the tables it was added to now.
 */
export async function ensureLearnerIdOrder(client: pg.Client): Promise<string[]> {
  await client.query(CREATE_FUNCTION);
  const { rows } = await client.query<{ table: string; current: boolean }>(
    `select c.relname as table, pg_get_triggerdef(t.oid) like $2 as current
     from pg_trigger t join pg_class c on c.oid = t.tgrelid
     where t.tgname = $1 and c.relnamespace = current_schema()::regnamespace`,
    [TRIGGER, `%${LEARNER_IDS_SETTING}%`],
  );
  const current = new Map(rows.map((r) => [r.table, r.current]));
  const added = ID_ORDERED_TABLES.filter((table) => current.get(table) !== true);
  for (const table of added) {
    if (current.has(table)) await client.query(`DROP TRIGGER ${TRIGGER} ON "${table}"`);
    await client.query(
      `CREATE TRIGGER ${TRIGGER} BEFORE INSERT ON "${table}" FOR EACH ROW
       WHEN (current_setting('${LEARNER_IDS_SETTING}', true) IS DISTINCT FROM '${ORDERED_IDS}')
       EXECUTE FUNCTION ${FUNCTION}()`,
    );
  }
  return added;
}
