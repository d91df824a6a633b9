import type pg from "pg";
import type { ShardTables } from "../citus/ShardTables.ts";

/** Where a learner's transaction gets its connection (the coordinator's/server's pool by default; a worker's pool under Citus direct routing). */
export interface ConnectionSource {
  /** The pool a coupled call for this learner runs on. */
  poolFor(userId: number): pg.Pool;
  /**
   * Told when a call's lock statement ran in another backend than the
   * connection's own (`pg_backend_pid()` in the statement differs from the
   * connection's process id): on Citus, the node forwarded the statement to
   * the node holding the shard, so the call was not routed to it (a stale
   * map, or the coordinator). The call goes on and commits once. Optional;
   * must be cheap and never throw.
   */
  routeMissed?(userId: number): void;
  /**
   * The learner's shard tables on the node `poolFor` gives (Citus direct
   * routing): a write transaction claims them and names them in its lock
   * and write statements (`ShardTables`). Optional; undefined: the
   * distributed tables (or one server's).
   */
  shardTablesFor?(userId: number): ShardTables | undefined;
}

/** Every learner's calls on one pool: the default, `CouplerOptions.pool`. */
export function onePool(pool: pg.Pool): ConnectionSource {
  return { poolFor: () => pool };
}
