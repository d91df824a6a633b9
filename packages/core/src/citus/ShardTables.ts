import { getTableName } from "drizzle-orm";
import type pg from "pg";
import {
  couplerAuditLog,
  idempotencyKeys,
  licenseProgressions,
  specializationProgress,
  userLicenses,
} from "../schema.ts";

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
   * The statements that open the transaction's claim on the shards, sent
   * after BEGIN in its round trip: the metadata lock, then (its own
   * snapshot) whether every shard is placed on this node, as a row
   * `{ local: boolean }`. Shard ids are digits from the catalog, so the
   * text is safe to format.
   *
   * Where they are, the check also turns on generic plans for the rest of
   * the transaction (SET LOCAL, through set_config): a connection prepares
   * each statement once per shard, so with PostgreSQL's default (custom
   * plans for a statement's first five executions) a pool's warm-up would
   * plan thousands of times. Every statement of such a transaction that
   * Citus would plan as a fast-path query names the shards instead
   * (`PairTransaction`; enroll's INSERTs stay distributed, and Citus never
   * caches a plan for them: their id default calls nextval), so no generic
   * Citus fast-path plan is made (on 13.2 those re-plan and leak, see
   * `planGuardAfresh`); the guard's function keeps its own setting. Where
   * they are not, the setting stays: a transaction on the distributed
   * tables needs Citus's custom plans (a generic router plan with
   * parameters cannot be made: 0A000).
   */
  get claim(): string[] {
    const ids = `'{${this.shardIds.join(",")}}'::bigint[]`;
    return [
      `SELECT lock_shard_metadata(${SHARE_LOCK}, ${ids})`,
      `SELECT local, CASE WHEN local THEN set_config('plan_cache_mode', 'force_generic_plan', true) END AS plans
       FROM (SELECT count(*) = ${this.shardIds.length} AS local FROM pg_dist_placement
             WHERE shardid = ANY(${ids}) AND groupid = (SELECT groupid FROM pg_dist_local_group)) placed`,
    ];
  }

  /** Whether the claim's last result says the shards are here. */
  static claimed(results: readonly pg.QueryResult[]): boolean {
    return (results.at(-1)?.rows[0] as { local?: unknown } | undefined)?.local === true;
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
