import { getTableName } from "drizzle-orm";
import pg from "pg";
import { isDistributed, type Queryable } from "./idempotency.ts";
import { ensureLearnerIdOrder, LEARNER_ID_ORDER } from "./citus/learnerIdOrder.ts";
import { couplerAuditLog } from "./schema.ts";

/**
 * Where each table of Coupler lives on a Citus cluster (SCALING.md).
 *
 * - `reference`: a full copy on every node: the catalogue, read by foreign
 *   keys and by the coupler, and the guard's one-row switch, read by the
 *   guard trigger on the shards.
 * - `distributed`: every per-learner table, by the learner's id, all in one
 *   co-location group with `users`: a learner's rows of every table sit on
 *   the same worker, so a coupled transaction is single-shard.
 * - `byEmail`: `user_emails`, by email, in a group of its own: its primary
 *   key is what makes an email unique.
 *
 * Order matters: a table is distributed after the tables its foreign keys
 * point at, and `users` leads its co-location group.
 */
export const CITUS_LAYOUT = {
  reference: ["specializations", "specialization_levels", "coupling_guard"],
  distributed: [
    ["users", "id"],
    ["specialization_progress", "student_id"],
    ["user_licenses", "user_id"],
    ["license_progressions", "user_id"],
    ["coupler_audit_log", "user_id"],
    ["idempotency_keys", "user_id"],
  ],
  byEmail: ["user_emails", "email"],
} as const satisfies {
  reference: readonly string[];
  distributed: readonly (readonly [string, string])[];
  byEmail: readonly [string, string];
};

/** What `distributeOnCitus` did: the tables it made reference or distributed tables now (empty when there was nothing to do). */
export interface CitusDistribution {
  reference: string[];
  distributed: string[];
  /** Foreign keys dropped before distributing and re-created after (Citus distributes one table at a time). */
  foreignKeys: string[];
  /** Active worker nodes of the cluster, `host:port`. */
  workers: string[];
  /** Database and function settings set now (empty when they were already so): `propagate_set_commands`, the guard's `plan_cache_mode`. */
  settings: string[];
  /** Triggers installed now (empty when they were there): the learner-id order, `citus/learnerIdOrder.ts`. */
  triggers: string[];
}

/** The database is not a Citus coordinator Coupler can distribute on (no citus extension, or no worker). */
export class CitusSetupError extends Error {
  override name = "CitusSetupError";
}

const LOCK = "select pg_advisory_xact_lock(hashtext('coupler-migrate'))";

interface Placed {
  table: string;
  method: "h" | "n";
  column: string | null;
  colocation: number;
}

/**
 * Distributes Coupler's migrated schema on the Citus coordinator at
 * `connectionString` (run `migrate()` first): reference tables for the
 * catalogue and the guard switch, every per-learner table hash-distributed
 * by the learner's id and co-located with `users`, `user_emails` by email.
 * Rows already there are distributed with their tables. Idempotent: tables
 * already placed are left alone, and a second run changes nothing and
 * returns empty lists.
 *
 * Everything happens in one transaction under the migrations' advisory lock:
 * the foreign keys between the tables are dropped, the tables distributed,
 * the keys re-created (and so re-validated, a scan of each table), then
 * COMMIT; a failure leaves the database as it was. Shards are created over
 * one connection per worker (`citus.multi_shard_modify_mode = sequential`),
 * as Citus needs for DDL after writes in one transaction.
 *
 * The guard and append-only audit triggers go to the shards with their
 * tables, which Citus allows only with `citus.enable_unsafe_triggers`, set
 * here for this transaction only (SET LOCAL), never for the application.
 * They are safe in the sense that setting warns about: the audit trigger
 * reads nothing, the id-order trigger only the shard it fires on, and the
 * guard reads only the same learner's rows (on the
 * co-located shards of the worker it runs on) and the reference table
 * `coupling_guard`, all local tasks. Citus refuses remote tasks inside a
 * trigger, so such a read could fail, never see another worker's data.
 *
 * It installs the trigger that keeps a learner's history and audit ids
 * increasing across the nodes' sequence ranges (`citus/learnerIdOrder.ts`).
 *
 * It also sets `citus.propagate_set_commands = 'local'` as the database's
 * default: the coupler's `SET LOCAL lock_timeout` (and statement_timeout)
 * must reach the worker where the row locks are taken, or a lock wait there
 * would have no bound. Sessions opened afterwards get it. And it has the
 * coupling guard plan its reads afresh on every call (`planGuardAfresh`).
 *
 * Throws CitusSetupError when the citus extension cannot be created or the
 * cluster has no active worker; errors of Citus itself pass through.
 */
export async function distributeOnCitus(connectionString: string): Promise<CitusDistribution> {
  const client = new pg.Client({ connectionString, application_name: "coupler-migrate" });
  client.on("error", () => {});
  await client.connect();
  try {
    await ensureCitusExtension(client);
    await client.query("begin");
    try {
      await client.query(LOCK);
      const workers = await activeWorkers(client);
      if (workers.length === 0) {
        throw new CitusSetupError(
          "the Citus coordinator has no active worker node: add the workers first (select citus_add_node(host, port))",
        );
      }
      const settingChanged = [...(await propagateSetLocal(client)), ...(await planGuardAfresh(client))];
      // Trigger DDL on distributed tables reaches the shards only with this setting, over one connection per worker.
      await client.query("set local citus.enable_unsafe_triggers = on");
      await client.query("set local citus.multi_shard_modify_mode = 'sequential'");
      const installed = (await ensureLearnerIdOrder(client)).map((table) => `${LEARNER_ID_ORDER} on ${table}`);
      const placed = await placedTables(client);
      const pendingReference = CITUS_LAYOUT.reference.filter((t) => !placed.has(t));
      const pendingDistributed = [...CITUS_LAYOUT.distributed, CITUS_LAYOUT.byEmail].filter(([t]) => !placed.has(t));
      checkPlacement(placed);
      if (pendingReference.length === 0 && pendingDistributed.length === 0) {
        await client.query("commit");
        return {
          reference: [],
          distributed: [],
          foreignKeys: [],
          workers,
          settings: settingChanged,
          triggers: installed,
        };
      }
      const keys = await foreignKeysBetween(client, [
        ...CITUS_LAYOUT.reference,
        ...CITUS_LAYOUT.distributed.map(([t]) => t),
      ]);
      for (const key of keys) await client.query(`alter table ${ident(key.table)} drop constraint ${ident(key.name)}`);
      // Copying rows into the shards would queue the guard's deferred trigger events, and then
      // re-adding a foreign key there fails ("pending trigger events"): off while distributing.
      const triggers = await deferredTriggers(
        client,
        CITUS_LAYOUT.distributed.map(([t]) => t),
      );
      for (const t of triggers) await client.query(`alter table ${ident(t.table)} disable trigger ${ident(t.name)}`);
      for (const table of pendingReference) await client.query("select create_reference_table($1)", [table]);
      const [lead] = CITUS_LAYOUT.distributed[0];
      for (const [table, column] of pendingDistributed) {
        const colocateWith = table === CITUS_LAYOUT.byEmail[0] ? "none" : table === lead ? "default" : lead;
        await client.query("select create_distributed_table($1, $2, colocate_with => $3)", [
          table,
          column,
          colocateWith,
        ]);
      }
      for (const key of keys)
        await client.query(`alter table ${ident(key.table)} add constraint ${ident(key.name)} ${key.definition}`);
      for (const t of triggers)
        await client.query(
          `alter table ${ident(t.table)} enable ${ENABLE_MODE[t.enabled] ?? ""} trigger ${ident(t.name)}`,
        );
      await client.query("commit");
      return {
        reference: pendingReference,
        distributed: pendingDistributed.map(([t]) => t),
        foreignKeys: keys.map((k) => k.name),
        workers,
        settings: settingChanged,
        triggers: installed,
      };
    } catch (error) {
      await client.query("rollback").catch(() => {});
      throw error;
    }
  } finally {
    await client.end();
  }
}

async function ensureCitusExtension(client: pg.Client): Promise<void> {
  const { rows } = await client.query("select 1 from pg_extension where extname = 'citus'");
  if (rows.length > 0) return;
  try {
    await client.query("create extension citus");
  } catch (error) {
    throw new CitusSetupError(
      `the citus extension is not installed in this database and could not be created (${(error as Error).message}); ` +
        "point DATABASE_URL at a Citus coordinator (shared_preload_libraries = 'citus')",
      { cause: error },
    );
  }
}

const PROPAGATE = "citus.propagate_set_commands";

/** Makes `SET LOCAL` reach the workers for every new session of this database; returns what it changed. */
async function propagateSetLocal(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ set: boolean }>(
    `select exists (select 1 from pg_db_role_setting s join pg_database d on d.oid = s.setdatabase
                    where d.datname = current_database() and s.setrole = 0 and $1 = any(s.setconfig)) as set`,
    [`${PROPAGATE}=local`],
  );
  if (rows[0]?.set) return [];
  const { rows: db } = await client.query<{ name: string }>("select current_database() as name");
  await client.query(`alter database ${ident(db[0]?.name ?? "")} set ${PROPAGATE} = 'local'`);
  return [`${PROPAGATE} = 'local'`];
}

const GUARD_FUNCTION = "coupler_coupling_guard";
const CUSTOM_PLANS = "plan_cache_mode=force_custom_plan";

/**
 * Sets `plan_cache_mode = force_custom_plan` on the coupling guard's
 * function (its reads of the learner's two rows), so they are planned
 * afresh, with the learner's id, on every call; returns what it changed.
 * Why: a PL/pgSQL query on a distributed table with its distribution key as
 * a parameter gets a generic plan after five calls, and Citus 13.2 caches the
 * local shard plan of such a plan on every execution instead of reusing it
 * (its lookup misses when shard pruning is deferred; fixed upstream by
 * citusdata/citus#8824): a worker backend that ran the guard 10,000 times
 * held about 1.2 GB of cached plans (SCALING.md). Planned afresh, Citus
 * plans the fast-path query for the local shard directly, caches nothing,
 * and costs less CPU than the generic plan did. Plain PostgreSQL keeps its
 * generic plans: the setting is made here, on Citus only. ALTER FUNCTION on
 * the coordinator reaches the workers (Citus propagates the function).
 */
async function planGuardAfresh(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ config: string[] | null }>(
    "select proconfig as config from pg_proc where proname = $1 and pronamespace = current_schema()::regnamespace",
    [GUARD_FUNCTION],
  );
  const [guard] = rows;
  if (!guard || guard.config?.includes(CUSTOM_PLANS)) return [];
  await client.query(`alter function ${ident(GUARD_FUNCTION)}() set plan_cache_mode = force_custom_plan`);
  return [`${GUARD_FUNCTION}(): plan_cache_mode = force_custom_plan`];
}

async function activeWorkers(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ node: string }>(
    "select nodename || ':' || nodeport as node from pg_dist_node where noderole = 'primary' and isactive and groupid <> 0 order by nodeid",
  );
  return rows.map((r) => r.node);
}

async function placedTables(client: pg.Client): Promise<Map<string, Placed>> {
  const { rows } = await client.query<Placed>(
    `select logicalrelid::regclass::text as table, partmethod as method,
            case when partmethod = 'h' then column_to_column_name(logicalrelid, partkey) end as column, colocationid as colocation
     from pg_dist_partition`,
  );
  return new Map(rows.map((r) => [r.table.replaceAll('"', ""), r]));
}

/** Refuses a table Citus already holds in another shape than the layout's (distributed by hand, say): that needs an operator, not a guess. */
function checkPlacement(placed: Map<string, Placed>): void {
  const wrong: string[] = [];
  for (const table of CITUS_LAYOUT.reference) {
    const p = placed.get(table);
    if (p && p.method !== "n") wrong.push(`${table} should be a reference table`);
  }
  const lead = placed.get(CITUS_LAYOUT.distributed[0][0]);
  for (const [table, column] of [...CITUS_LAYOUT.distributed, CITUS_LAYOUT.byEmail]) {
    const p = placed.get(table);
    if (!p) continue;
    if (p.method !== "h" || p.column !== column) wrong.push(`${table} should be hash-distributed by ${column}`);
    else if (table !== CITUS_LAYOUT.byEmail[0] && lead && p.colocation !== lead.colocation)
      wrong.push(`${table} should be co-located with users`);
  }
  if (wrong.length > 0)
    throw new CitusSetupError(`tables are placed on Citus in another layout than Coupler's: ${wrong.join("; ")}`);
}

interface ForeignKey {
  table: string;
  name: string;
  definition: string;
}

/** The foreign keys whose both ends are among `tables` (public schema), with their definitions. */
async function foreignKeysBetween(client: pg.Client, tables: string[]): Promise<ForeignKey[]> {
  const { rows } = await client.query<ForeignKey>(
    `select c.relname as table, k.conname as name, pg_get_constraintdef(k.oid) as definition
     from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_class t on t.oid = k.confrelid
     join pg_namespace n on n.oid = c.relnamespace
     where k.contype = 'f' and n.nspname = 'public' and c.relname = any($1) and t.relname = any($1)
     order by c.relname, k.conname`,
    [tables],
  );
  return rows;
}

interface Trigger {
  table: string;
  name: string;
  /** pg_trigger.tgenabled: O (origin), A (always), R (replica), D (disabled). */
  enabled: string;
}

/** How `ALTER TABLE … ENABLE <mode> TRIGGER` restores each tgenabled state. */
const ENABLE_MODE: Record<string, string> = { O: "", A: "always", R: "replica" };

/** The enabled deferrable constraint triggers (the coupling guard's) of `tables`. */
async function deferredTriggers(client: pg.Client, tables: string[]): Promise<Trigger[]> {
  const { rows } = await client.query<Trigger>(
    `select c.relname as table, t.tgname as name, t.tgenabled as enabled
     from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
     where not t.tgisinternal and t.tgdeferrable and t.tgenabled <> 'D' and n.nspname = 'public' and c.relname = any($1)
     order by 1, 2`,
    [tables],
  );
  return rows;
}

function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Whether the coupler's tables are distributed on Citus in the database `db`
 * reaches (its audit table is; `distributeOnCitus` places all or none): the
 * value for `CouplerOptions.citus`. Two catalogue reads; call it once at
 * start-up. False on plain PostgreSQL.
 */
export async function couplerOnCitus(db: Queryable): Promise<boolean> {
  return isDistributed(db, getTableName(couplerAuditLog));
}
