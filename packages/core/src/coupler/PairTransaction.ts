import { eq } from "drizzle-orm";
import type pg from "pg";
import { clientOnShards, type ShardTables } from "../citus/ShardTables.ts";
import { dbForClient, type Db } from "../client.ts";
import { NotFoundError } from "../errors/index.ts";
import { users } from "../schema.ts";
import type { LockedPair, LockedRows, PairKey, StoredResult } from "./change.ts";
import type { CouplerRuntime, OperationContext } from "./CouplerRuntime.ts";
import type { PendingWrites } from "./PendingWrites.ts";
import type { HistoryRead, PairRead } from "./readStatements.ts";
import type { LockStats } from "./reportCall.ts";
import type { LockMode } from "./statements.ts";
import { storedKey, type ActorKey } from "./storedKey.ts";

/**
 * One transaction of a learner's call, as the operations see it: it locks
 * the pair and writes it through the statements module; for a read it
 * sends the read's one statement (`readPair`, `readHistory`), with no
 * transaction block around it (`ONE_STATEMENT`). It holds the connection,
 * so nothing inside can reach the pool (compare Drizzle's `PgTransaction`);
 * it owns the mid-transaction fault hook and the lock bookkeeping the
 * observer reports.
 * `runAttempts` makes one per attempt.
 */
export class PairTransaction {
  readonly ctx: OperationContext;
  readonly #rt: CouplerRuntime;
  readonly #client: pg.PoolClient;
  readonly #noWait: boolean;
  readonly #locks: LockStats;
  readonly #shards: ShardTables | undefined;

  /**
   * `plan.shards`: the learner's shard tables, claimed by this transaction
   * (`ShardTables`): the lock and write statements name them.
   */
  constructor(
    rt: CouplerRuntime,
    plan: { ctx: OperationContext; noWait: boolean; shards?: ShardTables | undefined },
    client: pg.PoolClient,
    locks: LockStats,
  ) {
    this.ctx = plan.ctx;
    this.#rt = rt;
    this.#client = client;
    this.#noWait = plan.noWait;
    this.#locks = locks;
    this.#shards = plan.shards;
  }

  /** A Drizzle handle bound to this transaction's connection, for reads (writes go through `write`). */
  get db(): Db {
    return dbForClient(this.#client);
  }

  /**
   * The connection for the statements that lock and read the pair's rows:
   * on claimed shards, one that names them (`clientOnShards`); every named
   * statement of such a transaction goes through it (see `ShardTables.claimOn`).
   */
  get #pair(): { client: pg.PoolClient; db: Db } {
    const client = this.#shards ? clientOnShards(this.#client, this.#shards) : this.#client;
    return { client, db: dbForClient(client) };
  }

  /**
   * Locks whichever halves of the pair exist, in the fixed order (progress,
   * then license), with the stored results of `keys`. Both halves and the
   * keys come from one statement (`Statements.lockPair`), which also says
   * whether another transaction held the rows (then `LockStats.rowLocked`).
   * When it finds no pair, the halves are locked one by one, to tell which
   * is missing; a pair enrolled between the two is read again with its keys.
   * `historyEnd` reads where the license's history chain ends too (sync).
   */
  async lock(pair: PairKey, keys: ActorKey[], options: { historyEnd?: boolean } = {}): Promise<LockedRows> {
    const found = await this.#lockPair(pair, keys, options.historyEnd ?? false);
    if (found) return found;
    const { statements } = this.#rt;
    const params = { userId: pair.userId, specialization: pair.specialization };
    const { client, db } = this.#pair;
    const { progress, license } = await this.#timed(async (mode) => {
      const [progress] = await statements.lockProgress(db, client, mode).execute(params);
      const [license] = await statements.lockLicense(db, client, mode).execute(params);
      return { progress, license };
    });
    if (progress && license) {
      const enrolled = await this.#lockPair(pair, keys, options.historyEnd ?? false);
      if (enrolled) return enrolled;
    }
    return {
      progress: progress && { ...progress },
      license: license?.row && { ...license.row },
      stored: new Map(),
      historyEnd: license?.historyEnd,
    };
  }

  /**
   * Where the license's history chain ends, read afresh. The lock statement
   * reads it in its own snapshot, taken before it waited for the rows: the
   * history a transaction it waited for committed is not in it (READ
   * COMMITTED refreshes only the locked rows). Asked before a repair is
   * planned, so that a chain that looked short but was not gets none.
   */
  async historyEndNow(pair: PairKey, licenseId: number): Promise<number> {
    const { client, db } = this.#pair;
    const [row] = await this.#rt.statements.historyEnd(db, client).execute({ userId: pair.userId, licenseId });
    return row?.end ?? 1;
  }

  /** `rows` as a pair, or NOT_FOUND saying why not: no such user, not enrolled, or which half is missing. */
  async requirePair(pair: PairKey, rows: LockedRows): Promise<LockedPair> {
    const { progress, license } = rows;
    if (progress && license) return { ...rows, progress, license };
    if (!progress && !license) return this.notEnrolled(pair);
    const missing = progress ? "license" : "progress";
    const other = progress ? "progress" : "license";
    throw new NotFoundError(
      missing,
      `${this.ctx.operation}: user ${pair.userId} in ${pair.specialization} has no ${missing} row; repair it with sync from ${other}`,
      this.ctx,
    );
  }

  /**
   * NOT_FOUND for the user, or for the enrollment when the user exists;
   * `userExists` when the caller has read it already (the reads), else it is
   * read here.
   */
  async notEnrolled(pair: PairKey, userExists?: boolean): Promise<never> {
    if (userExists === undefined) await this.requireUser(pair.userId);
    else if (!userExists) throw this.#noUser(pair.userId);
    throw new NotFoundError(
      "enrollment",
      `${this.ctx.operation}: user ${pair.userId} is not enrolled in ${pair.specialization}`,
      this.ctx,
    );
  }

  /** NOT_FOUND unless the user exists; `keyShare` keeps it from being deleted until the transaction ends. */
  async requireUser(userId: number, options: { keyShare?: boolean } = {}): Promise<void> {
    const query = this.db.select({ id: users.id }).from(users).where(eq(users.id, userId));
    const [user] = await (options.keyShare ? query.for("key share") : query);
    if (!user) throw this.#noUser(userId);
  }

  /**
   * A read's one statement (`ONE_STATEMENT`, no transaction block): both
   * halves of the pair, whether the user exists, and with `chain` the
   * license's history steps, oldest first.
   */
  async readPair(pair: PairKey, options: { chain?: boolean } = {}): Promise<PairRead> {
    const chain = options.chain ?? false;
    const [row] = await this.#rt.statements
      .readPair(this.db, this.#client, chain)
      .execute({ userId: pair.userId, specialization: pair.specialization });
    const steps = (row && "chain" in row ? row.chain : undefined) ?? [];
    return {
      progress: row?.progress ?? undefined,
      license: row?.license ?? undefined,
      userExists: row?.userExists ?? false,
      chain: steps.map(([fromLevel, toLevel]) => ({ fromLevel, toLevel })),
    };
  }

  /** A read's one statement: a page of the license's history, newest first, older than `cursor` when given. */
  async readHistory(pair: PairKey, page: { limit: number; cursor?: number | undefined }): Promise<HistoryRead> {
    const after = page.cursor !== undefined;
    const rows = await this.#rt.statements.readHistory(this.db, this.#client, after).execute({
      userId: pair.userId,
      specialization: pair.specialization,
      limit: page.limit,
      ...(after ? { cursor: page.cursor } : {}),
    });
    const [first] = rows;
    return {
      licenseId: first?.licenseId ?? undefined,
      userExists: first?.userExists ?? false,
      entries: rows.flatMap((row) => (row.entry ? [row.entry] : [])),
    };
  }

  /** Creates the pair's two rows at level 1 where missing (an INSERT each, progress first); true when it created either. */
  async createPair(pair: PairKey): Promise<boolean> {
    const params = { userId: pair.userId, specialization: pair.specialization };
    const progress = await this.#rt.statements.createProgress(this.db, this.#client).execute(params);
    const license = await this.#rt.statements.createLicense(this.db, this.#client).execute(params);
    return progress.length + license.length > 0;
  }

  /** Sends the gathered writes as one statement, after the mid-transaction fault hook; nothing when there is nothing to write. */
  async write(writes: PendingWrites): Promise<void> {
    if (writes.empty) return;
    await this.#rt.faults?.midTransaction?.(this.#client);
    await this.#rt.statements.write(this.#client, writes.params, this.#shards);
  }

  #noUser(userId: number): NotFoundError {
    return new NotFoundError("user", `${this.ctx.operation}: user ${userId} does not exist`, this.ctx);
  }

  async #lockPair(pair: PairKey, keys: ActorKey[], historyEnd: boolean): Promise<LockedRows | undefined> {
    const { client, db } = this.#pair;
    const rows = await this.#timed((mode) =>
      this.#rt.statements.lockPair(db, client, mode, historyEnd, keys.length > 0).execute({
        userId: pair.userId,
        specialization: pair.specialization,
        actors: [...new Set(keys.map((k) => k.actor))],
        keys: [...new Set(keys.map((k) => k.key))],
        retentionMs: this.#rt.idempotencyRetentionMs,
      }),
    );
    const [first] = rows;
    if (!first) return undefined;
    if (!first.free) this.#locks.rowLocked = true;
    // pg reads the backend's pid from BackendKeyData at connect (not in @types/pg).
    if (first.backend !== (this.#client as unknown as { processID?: number }).processID)
      this.#rt.connections.routeMissed?.(pair.userId);
    const stored = new Map<string, StoredResult>();
    // An unkeyed lock statement reads no stored result (`Statements.lockPair`).
    for (const { stored: s } of rows as { stored?: { actor: string | null; key: string | null } & StoredResult }[]) {
      if (s?.actor != null && s.key != null)
        stored.set(storedKey(s.actor, s.key), { requestHash: s.requestHash, response: s.response });
    }
    const end = (first as { historyEnd?: number | null }).historyEnd;
    return {
      progress: { ...first.progress },
      license: { ...first.license },
      stored,
      historyEnd: end ?? undefined,
    };
  }

  /**
   * Runs `lock` in the call's lock mode (NOWAIT when asked), adding its time
   * to the lock wait, also when it gives up (a LOCK_TIMEOUT waited too).
   */
  async #timed<T>(lock: (mode: LockMode) => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await lock(this.#noWait ? "nowait" : "wait");
    } finally {
      this.#locks.lockWaitMs = (this.#locks.lockWaitMs ?? 0) + (performance.now() - started);
    }
  }
}
