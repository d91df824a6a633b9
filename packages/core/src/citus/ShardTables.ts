import { getTableName } from "drizzle-orm";
import type pg from "pg";
import {
  couplerAuditLog,
  idempotencyKeys,
  licenseProgressions,
  specializationProgress,
  userLicenses,
} from "../schema.ts";
import { LEARNER_IDS_SETTING, ORDERED_IDS, learnerIdLockKeys } from "./learnerIdOrder.ts";

/**
 * The tables a learner's lock and write statements name: on the learner's
 * worker they can name the learner's shard of each instead (`ShardTables`).
 */
export const SHARD_ROUTED_TABLES = [
  specializationProgress,
  userLicenses,
  licenseProgressions,
  couplerAuditLog,
  idempotencyKeys,
].map((t) => getTableName(t));

/** Citus's lock mode number for ShareLock, as `lock_shard_metadata` takes it (PostgreSQL's lockdefs.h). */
const SHARE_LOCK = 5;

/** The learner-id-order lock's keys in the claim ($3: the learner). */
const LEARNER = learnerIdLockKeys("$3::bigint");

/**
 * The claim's two statements (`ShardTables.claimOn`), by the name each is
 * prepared under; $1: the shard ids, $2: the lock timeout in ms (NULL: the
 * session's), set first, so that it bounds the waits for the locks too;
 * $3: the learner, whose ids the transaction orders (the learner-id-order
 * lock, held to COMMIT: see `orderedId` in the write statement), taken at
 * once where it is free (`free`), else waited for, unless $4 (NOWAIT).
 */
const CLAIM: readonly (readonly [name: string, parameters: string, text: string])[] = [
  [
    "coupler_claim_lock",
    "bigint[], text, bigint, boolean",
    `SELECT lock_shard_metadata(${SHARE_LOCK}, $1::bigint[]),
       CASE WHEN pg_try_advisory_xact_lock(${LEARNER}) THEN true
            WHEN $4::boolean THEN false
            ELSE (SELECT false FROM (SELECT pg_advisory_xact_lock(${LEARNER})) waited) END AS free
     FROM (SELECT set_config('lock_timeout', coalesce($2::text, current_setting('lock_timeout')), true)) timeout`,
  ],
  [
    "coupler_claim_placed",
    "bigint[]",
    `SELECT local, CASE WHEN local THEN set_config('plan_cache_mode', 'force_generic_plan', true) END AS plans,
       CASE WHEN local THEN set_config('${LEARNER_IDS_SETTING}', '${ORDERED_IDS}', true) END AS ids,
       format('SET LOCAL lock_timeout = %L', current_setting('lock_timeout')) AS forward
     FROM (SELECT count(*) = cardinality($1::bigint[]) AS local FROM pg_dist_placement
           WHERE shardid = ANY($1::bigint[]) AND groupid = (SELECT groupid FROM pg_dist_local_group)) placed`,
  ],
];

/** Connections the claim's statements were prepared on (`prepareClaim`). */
const claimPrepared = new WeakSet<pg.ClientBase>();

/**
 * Prepares the claim's statements (SQL PREPARE: they live as long as the
 * connection) on a connection just opened, queued before anything its
 * borrower sends: for a worker pool's 'connect' event. Should it fail, the
 * connection's claims go back to text.
 */
export function prepareClaim(client: pg.ClientBase): void {
  claimPrepared.add(client);
  const prepare = CLAIM.map(([name, parameters, text]) => `PREPARE ${name}(${parameters}) AS ${text}`).join("; ");
  client.query(prepare).catch(() => claimPrepared.delete(client));
}

/**
 * One learner's shard of every table in `SHARD_ROUTED_TABLES`, on the
 * worker that holds them: the names the lock and write statements use in
 * place of the distributed tables', so that PostgreSQL plans and runs them
 * as on one server, without Citus's distributed planner, executor and
 * local-execution re-planning (about half of a worker's CPU per level-up;
 * `pnpm --filter @coupler/bench citus:statement-cost`).
 *
 * It is safe only with Citus's own protocol for a local write, which the
 * transaction follows (`claim`): the shards' metadata locked in share mode
 * first, as Citus's executor does before it writes a shard (a shard move or
 * split blocks writes by taking the same lock in exclusive mode before its
 * last catch-up), then, in a statement of its own (a fresh snapshot, after
 * the lock), every shard's placement checked to be on this node. When it
 * is not (a stale map: the shards moved), the transaction goes on through
 * the distributed tables, which Citus forwards.
 */
export class ShardTables {
  /** `"table"` → `"table_<shardid>"`, as the statements' text quotes them. */
  readonly #renames: [string, string][];

  /** The first shard's id: it names the whole set (co-located shards move and split together). */
  readonly key: string;

  constructor(
    /** Shard name by distributed table name, for every table of SHARD_ROUTED_TABLES. */
    readonly names: ReadonlyMap<string, string>,
    /** The shard ids of those tables, in SHARD_ROUTED_TABLES's order. */
    readonly shardIds: readonly string[],
  ) {
    this.key = shardIds[0] ?? "";
    this.#renames = [...names].map(([table, shard]) => [`"${table}"`, `"${shard}"`]);
  }

  /**
   * The statements that open the claim on the shards of `userId`'s
   * transaction, sent after BEGIN in its round trip: the lock timeout
   * (`lockTimeoutMs`, undefined: the session's), the metadata lock and the
   * learner-id-order lock on the learner (with `noWait`, only where it is
   * free: `learnerWasFree`), then (its own snapshot) whether every shard is
   * placed on this node, as a row `{ local: boolean }`. On a connection the
   * claim was prepared on (`prepareClaim`) they EXECUTE its prepared
   * statements; as text (no `client`, or one without them), the placement
   * check is planned again in every transaction. Shard ids are digits from
   * the catalog, the timeout and the learner integers, so the text is safe
   * to format.
   *
   * No SET statement: Citus keeps the whole text of a query that holds a
   * SET LOCAL and replays it, as the transaction's settings, on every
   * connection to another node the transaction opens later. A stale map's
   * forwarded transaction would run the claim again on the shards' real
   * node, and take its settings there (see `forwardSettings`).
   *
   * Where the shards are here, the check turns on generic plans for the
   * rest of the transaction (set_config, transaction-local): a connection
   * prepares each statement once per shard, so with PostgreSQL's default
   * (custom plans for a statement's first five executions) a pool's warm-up
   * would plan thousands of times. Every statement of such a transaction
   * that Citus would plan as a fast-path query names the shards instead
   * (`PairTransaction`; enroll's INSERTs stay distributed, and Citus never
   * caches a plan for them: their id default calls nextval), so no generic
   * Citus fast-path plan is made (on 13.2 those re-plan and leak, see
   * `planGuardAfresh`); the guard's function keeps its own setting. Where
   * they are not, the setting stays: a transaction on the distributed
   * tables needs Citus's custom plans (a generic router plan with
   * parameters cannot be made: 0A000).
   *
   * It also says (`LEARNER_IDS_SETTING`) that the transaction's statements
   * order the learner's history and audit ids themselves: every such row
   * of a claimed transaction is written by the write statement on the
   * shards, which draws its id as the learner-id-order trigger would, so
   * the trigger is skipped.
   */
  claimOn(
    client: pg.ClientBase | undefined,
    options: { lockTimeoutMs: number | undefined; userId: number; noWait: boolean },
  ): string[] {
    const values = [
      `'{${this.shardIds.join(",")}}'`,
      options.lockTimeoutMs === undefined ? "NULL" : `'${options.lockTimeoutMs}'`,
      `'${options.userId}'`,
      `'${options.noWait}'`,
    ];
    return CLAIM.map(([name, parameters, text]) => {
      const used = values.slice(0, parameters.split(",").length);
      if (client && claimPrepared.has(client)) return `EXECUTE ${name}(${used.join(", ")})`;
      return used.reduce((sql, value, i) => sql.replaceAll(`$${i + 1}::`, `${value}::`), text);
    });
  }

  /** Whether the claim's last result says the shards are here. */
  static claimed(results: readonly pg.QueryResult[]): boolean {
    return (results.at(-1)?.rows[0] as { local?: unknown } | undefined)?.local === true;
  }

  /**
   * Whether the claim found the learner's lock free (false: another
   * transaction of the learner held it, and the claim waited for it, or
   * with NOWAIT did not take it).
   */
  static learnerWasFree(results: readonly pg.QueryResult[]): boolean {
    return (results.at(-2)?.rows[0] as { free?: unknown } | undefined)?.free !== false;
  }

  /**
   * Where the claim failed (the shards are not here), the SET LOCAL to send
   * before the transaction's first statement on the distributed tables:
   * Citus propagates a SET LOCAL's text to the node it forwards them to,
   * so the lock timeout bounds the wait there too. One more round trip,
   * on a route miss only.
   */
  static forwardSettings(results: readonly pg.QueryResult[]): string | undefined {
    const forward = (results.at(-1)?.rows[0] as { forward?: unknown } | undefined)?.forward;
    return typeof forward === "string" ? forward : undefined;
  }

  /** `text` with every quoted routed table name replaced by its shard's. */
  rename(text: string): string {
    let renamed = text;
    for (const [table, shard] of this.#renames) renamed = renamed.replaceAll(table, shard);
    return renamed;
  }

  /** A statement's name on these shards (named statements are per connection; each shard's text is its own). */
  statementName(name: string): string {
    return `${name}@${this.key}`;
  }
}

const clients = new WeakMap<pg.PoolClient, Map<string, pg.PoolClient>>();

/**
 * `client` as seen by a Drizzle statement built for the distributed tables
 * but run on `shards`: every query's text names the shards and its
 * statement name is the shards' (see `ShardTables.statementName`). One per
 * client and shard, so statements cached per client stay per shard too.
 */
export function clientOnShards(client: pg.PoolClient, shards: ShardTables): pg.PoolClient {
  let byShard = clients.get(client);
  if (!byShard) {
    byShard = new Map();
    clients.set(client, byShard);
  }
  let wrapped = byShard.get(shards.key);
  if (!wrapped) {
    const query = (config: pg.QueryConfig, values?: unknown[]) =>
      client.query(
        {
          ...config,
          text: shards.rename(config.text),
          ...(config.name ? { name: shards.statementName(config.name) } : {}),
        },
        values,
      );
    wrapped = new Proxy(client, {
      get(target, property) {
        if (property === "query") return query;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    byShard.set(shards.key, wrapped);
  }
  return wrapped;
}
