import type { Queryable } from "../idempotency.ts";
import { hashInt8, shardIndexOf, type ShardRange } from "./shardHash.ts";
import { SHARD_ROUTED_TABLES, ShardTables } from "./ShardTables.ts";

/** A node holding shards of the routed table, as pg_dist_node names it. */
export interface ShardNode {
  /** pg_dist_node.groupid: the key a placement names (0 is the coordinator). */
  groupId: number;
  /** pg_dist_node.nodename and nodeport: the address Citus itself uses. */
  host: string;
  port: number;
  /** hasmetadata and metadatasynced: the node can plan a query itself (and forwards one for a shard it does not hold). */
  synced: boolean;
}

/** One shard of the routed table with the group of its active placement. */
export interface PlacedShard extends ShardRange {
  groupId: number;
  /**
   * The co-located shards of the learner's lock and write statements, when
   * the map read every one and this session may lock their metadata (it
   * owns the tables, as `lock_shard_metadata` requires); `ShardTables`.
   */
  tables?: ShardTables;
}

/**
 * The shard map of one hash-distributed table read from Citus's own catalog:
 * its shard ranges sorted by minimum, each with the group of its placement
 * and that group's active primary. Immutable; `readWorkerMap` makes a new
 * one. `fingerprint` is the catalog rows it was built from, so two maps with
 * the same fingerprint route alike.
 */
export class WorkerMap {
  readonly nodes: ReadonlyMap<number, ShardNode>;

  constructor(
    readonly shards: readonly PlacedShard[],
    nodes: Iterable<ShardNode>,
    readonly fingerprint: string,
  ) {
    this.nodes = new Map([...nodes].map((n) => [n.groupId, n]));
  }

  /** The shard holding `userId` and its node, or undefined when the map has no shard for its hash (an empty map). Throws RangeError for a non-integer id. */
  locate(userId: number | bigint): { shard: PlacedShard; node: ShardNode | undefined } | undefined {
    const shard = this.shards[shardIndexOf(hashInt8(userId), this.shards)];
    return shard && { shard, node: this.nodes.get(shard.groupId) };
  }

  /** Whether every node holding shards has its metadata synced (Citus 11+ default): the condition for `direct` routing everywhere. */
  get allSynced(): boolean {
    return this.nodes.size > 0 && [...this.nodes.values()].every((n) => n.synced);
  }
}

interface MapRow {
  shard_id: string;
  min: number;
  max: number;
  group_id: number;
  host: string | null;
  port: number | null;
  synced: boolean | null;
}

/**
 * Shards of `table`, their placement's group, and that group's active primary
 * (one query on pg_dist_shard, pg_dist_placement, pg_dist_node; about 32 rows
 * with Citus's default shard count, cheap enough to run every second or two).
 * A group without an active primary (a removed or disabled node) appears
 * with no node: its learners cannot be routed directly.
 */
const MAP_QUERY = `
  select s.shardid::text as shard_id, s.shardminvalue::int4 as min, s.shardmaxvalue::int4 as max,
         p.groupid as group_id, n.nodename as host, n.nodeport as port,
         (n.hasmetadata and n.metadatasynced) as synced
  from pg_dist_shard s
  join pg_dist_placement p on p.shardid = s.shardid
  left join pg_dist_node n on n.groupid = p.groupid and n.noderole = 'primary' and n.isactive
  where s.logicalrelid = $1::regclass
  order by s.shardminvalue::int4, p.placementid desc`;

/**
 * Reads the worker map of hash-distributed `table` (by default `users`,
 * which leads the learners' co-location group) from the coordinator, or from
 * any node with synced metadata. Where a shard has two placements (a move
 * caught mid-commit), the newest placement wins; a worker that does not hold
 * the shard forwards the call anyway. Throws the database's error when
 * the catalog cannot be read (not Citus, or the node is down).
 */
export async function readWorkerMap(db: Queryable, table = "users"): Promise<WorkerMap> {
  const { rows } = await db.query<MapRow>(MAP_QUERY, [table]);
  const tables = await readShardTables(db, table);
  const shards: PlacedShard[] = [];
  const nodes = new Map<number, ShardNode>();
  for (const r of rows) {
    if (shards.at(-1)?.shardId === r.shard_id) continue;
    const shardTables = tables?.get(r.min);
    shards.push({
      shardId: r.shard_id,
      min: r.min,
      max: r.max,
      groupId: r.group_id,
      ...(shardTables ? { tables: shardTables } : {}),
    });
    if (r.host !== null && r.port !== null)
      nodes.set(r.group_id, { groupId: r.group_id, host: r.host, port: r.port, synced: r.synced === true });
  }
  const fingerprint = JSON.stringify([
    rows.map((r) => [r.shard_id, r.min, r.max, r.group_id, r.host, r.port, r.synced]),
    [...(tables?.values() ?? [])].map((t) => t.shardIds),
  ]);
  return new WorkerMap(shards, nodes.values(), fingerprint);
}

interface ShardTableRow {
  min: number;
  table_name: string;
  shard_id: string;
  shard_name: string;
  owned: boolean;
}

/**
 * The shards of SHARD_ROUTED_TABLES co-located with `$1`'s, each with its
 * shard minimum and name, and whether this session owns its table
 * (`lock_shard_metadata` requires it).
 */
const SHARD_TABLES_QUERY = `
  select s.shardminvalue::int4 as min, s.logicalrelid::regclass::text as table_name, s.shardid::text as shard_id,
         shard_name(s.logicalrelid, s.shardid) as shard_name,
         pg_has_role(c.relowner, 'USAGE') as owned
  from pg_dist_shard s
  join pg_dist_partition p on p.logicalrelid = s.logicalrelid
  join pg_class c on c.oid = s.logicalrelid
  where p.colocationid = (select colocationid from pg_dist_partition where logicalrelid = $1::regclass)
    and s.logicalrelid::regclass::text = any($2::text[])`;

/**
 * `table`'s co-located shard tables by shard minimum (`ShardTables`).
 * Undefined when this session does not own every routed table; a shard
 * minimum with a table missing, or a shard name Citus had to shorten or
 * quote, is left out: its learners' statements name the distributed tables.
 */
async function readShardTables(db: Queryable, table: string): Promise<Map<number, ShardTables> | undefined> {
  const { rows } = await db.query<ShardTableRow>(SHARD_TABLES_QUERY, [table, SHARD_ROUTED_TABLES]);
  if (rows.some((r) => !r.owned)) return undefined;
  const byMin = new Map<number, Map<string, ShardTableRow>>();
  for (const r of rows) byMin.set(r.min, (byMin.get(r.min) ?? new Map<string, ShardTableRow>()).set(r.table_name, r));
  const result = new Map<number, ShardTables>();
  for (const [min, found] of byMin) {
    const ordered = SHARD_ROUTED_TABLES.map((t) => found.get(t));
    if (ordered.some((r) => r === undefined || !/^[a-z_][a-z0-9_]*$/.test(r.shard_name))) continue;
    const present = ordered.filter((r) => r !== undefined);
    result.set(
      min,
      new ShardTables(
        new Map(present.map((r) => [r.table_name, r.shard_name])),
        present.map((r) => r.shard_id),
      ),
    );
  }
  return result;
}
