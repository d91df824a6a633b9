import type pg from "pg";

/** Where a learner's transaction gets its connection (the coordinator's/server's pool by default; a worker's pool under Citus direct routing). */
export interface ConnectionSource {
  /** The pool a coupled call for this learner runs on. */
  poolFor(userId: number): pg.Pool;
}

/** Every learner's calls on one pool: the default, `CouplerOptions.pool`. */
export function onePool(pool: pg.Pool): ConnectionSource {
  return { poolFor: () => pool };
}
