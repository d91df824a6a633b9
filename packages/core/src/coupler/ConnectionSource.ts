import type pg from "pg";

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
}

/** Every learner's calls on one pool: the default, `CouplerOptions.pool`. */
export function onePool(pool: pg.Pool): ConnectionSource {
  return { poolFor: () => pool };
}
