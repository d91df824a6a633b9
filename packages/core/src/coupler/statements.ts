import { and, desc, eq, fillPlaceholders, getTableName, not, sql, type Query, type SQL } from "drizzle-orm";
import { PgDialect, type AnyPgColumn } from "drizzle-orm/pg-core";
import type pg from "pg";
import type { ShardTables } from "../citus/ShardTables.ts";
import type { Db } from "../client.ts";
import { idempotencyKeys, licenseProgressions, specializationProgress, userLicenses } from "../schema.ts";
import { licenseOf, progressOf } from "./pairFilters.ts";
import { ONE_ROW, readHistoryQuery, readPairQuery } from "./readStatements.ts";
import { writeQuery, type WriteParams } from "./writeStatement.ts";

export type LockMode = "wait" | "nowait";

/** The lock statement's parameters. */
export interface LockParams {
  userId: number;
  specialization: string;
  /** The distinct actors and the distinct idempotency keys of the batch's keyed calls. */
  actors: string[];
  keys: string[];
  /** How long a key is remembered, in ms. */
  retentionMs: number;
}

/** A placeholder whose name must be one of LockParams's keys: a misspelt parameter does not type-check. */
const lockParam = <K extends keyof LockParams & string>(name: K) => sql.placeholder(name);
const dialect = new PgDialect();

/**
 * Every statement the coupler sends for a learner's call, each a named
 * builder: the lock statements, the statement that creates a pair (enroll),
 * the write statement (`writeStatement.ts` builds its shapes) and the reads'
 * one statement each (`readStatements.ts`).
 * A statement is built once per pooled connection: Drizzle renders the SQL
 * once, and with `named` PostgreSQL parses and plans it once per connection
 * too (about 0.3 ms a statement here). Without `named` it is sent as an
 * unnamed statement every time, which is what a transaction pooler needs.
 */
export class Statements {
  readonly #cache = new WeakMap<pg.PoolClient, Map<string, unknown>>();
  /** Each raw statement's text and parameters in order, by name, rendered on first use. */
  readonly #queries = new Map<string, Query>();

  /**
   * `named`: statements are prepared per connection (see above). `citus`:
   * the database is a Citus coordinator, and a batch's write statement takes
   * the shape Citus routes to one shard (see `write`).
   */
  constructor(
    readonly named: boolean,
    readonly citus = false,
  ) {}

  /**
   * Both rows of a pair and the stored results of the batch's idempotency
   * keys, locked in one statement in the fixed order: progress, then license
   * (FOR UPDATE OF lists them in that order, and PostgreSQL takes row marks
   * in that order). A row per stored key (or one, with null key columns).
   * Key rows are read, not locked: the progress lock already serializes
   * calls on the pair. No row when either half is missing.
   *
   * `free` is the contention measurement, taken by the same statement: an
   * uncorrelated EXISTS over the progress row FOR UPDATE SKIP LOCKED, which
   * PostgreSQL runs once as an InitPlan before the rows are locked. It is
   * false when another transaction held the progress row as this statement
   * started, so the call is about to wait. (It locks the row when free, which
   * the statement does next anyway, in the same order.)
   *
   * A key is the actor's key for this pair, and only while it is younger
   * than the retention: an older one is not matched, whether or not the
   * purge has run, and the same statement deletes it so the call can store
   * the key afresh.
   *
   * With `historyEnd` (a batch with a sync), `historyEnd` is the level the
   * license's last history row ends at (1 without history); otherwise null.
   *
   * Without `keyed` (a batch with no idempotency key, the usual level-up)
   * the statement leaves out the key read and the expired-key delete, and
   * `stored` is absent: one relation less to plan and lock, and on Citus a
   * router query without a data-modifying CTE, which costs the worker about
   * half as much (SCALING.md).
   */
  lockPair(db: Db, client: pg.PoolClient, mode: LockMode, historyEnd = false, keyed = true) {
    const variant = `${historyEnd ? "_history" : ""}${keyed ? "" : "_unkeyed"}`;
    return this.#prepared(client, `coupler_lock_pair_${mode}${variant}`, (name) => {
      const probe = db
        .select({ one: sql`1` })
        .from(specializationProgress)
        .where(progressOf(lockParam("userId"), lockParam("specialization")))
        .for("update", { skipLocked: true });
      const pair = {
        progress: specializationProgress,
        license: userLicenses,
        free: sql<boolean>`exists ${probe}`.mapWith(Boolean),
        // Evaluated in the shard's task: the connection's own backend under local execution (or on one server),
        // another one when a Citus node forwarded the statement (a route miss, `ConnectionSource.routeMissed`).
        backend: sql<number>`pg_backend_pid()`.mapWith(Number),
        ...(historyEnd ? { historyEnd: historyEndOf() } : {}),
      };
      const of = [specializationProgress, userLicenses];
      const lockBoth = mode === "nowait" ? { of, noWait: true as const } : { of };
      const where = progressOf(lockParam("userId"), lockParam("specialization"));
      const license = licenseOf(lockParam("userId"), lockParam("specialization"));
      if (!keyed)
        return db
          .select(pair)
          .from(specializationProgress)
          .innerJoin(userLicenses, license)
          .where(where)
          .for("update", lockBoth)
          .prepare(name);
      const expired = db.$with("expired_key").as(db.delete(idempotencyKeys).where(and(keysOf(), not(freshKey()))));
      const stored = {
        actor: idempotencyKeys.caller,
        key: idempotencyKeys.key,
        requestHash: idempotencyKeys.requestHash,
        response: idempotencyKeys.response,
      };
      return db
        .with(expired)
        .select({ ...pair, stored })
        .from(specializationProgress)
        .innerJoin(userLicenses, license)
        .leftJoin(idempotencyKeys, and(keysOf(), freshKey()))
        .where(where)
        .for("update", lockBoth)
        .prepare(name);
    });
  }

  /** The progress row alone (the path for pairs with a missing half). */
  lockProgress(db: Db, client: pg.PoolClient, mode: LockMode) {
    return this.#prepared(client, `coupler_lock_progress_${mode}`, (name) =>
      db
        .select()
        .from(specializationProgress)
        .where(progressOf(lockParam("userId"), lockParam("specialization")))
        .for("update", mode === "nowait" ? { noWait: true } : {})
        .prepare(name),
    );
  }

  /** The license row alone, taken after the progress row, with where its history chain ends. */
  lockLicense(db: Db, client: pg.PoolClient, mode: LockMode) {
    return this.#prepared(client, `coupler_lock_license_${mode}`, (name) =>
      db
        .select({ row: userLicenses, historyEnd: historyEndOf() })
        .from(userLicenses)
        .where(licenseOf(lockParam("userId"), lockParam("specialization")))
        .for("update", mode === "nowait" ? { noWait: true } : {})
        .prepare(name),
    );
  }

  /**
   * Where a license's history chain ends now (a fresh snapshot, after the
   * lock statement): see `PairTransaction.lock`.
   */
  historyEnd(db: Db, client: pg.PoolClient) {
    return this.#prepared(client, "coupler_history_end", (name) => {
      const h = licenseProgressions;
      const last = db
        .select({ level: h.toLevel })
        .from(h)
        .where(and(eq(h.userId, sql.placeholder("userId")), eq(h.userLicenseId, sql.placeholder("licenseId"))))
        .orderBy(desc(h.id))
        .limit(1);
      return db
        .select({ end: sql<number>`coalesce((${last}), 1)`.mapWith(Number) })
        .from(ONE_ROW)
        .prepare(name);
    });
  }

  /**
   * Creates a pair's progress row at level 1 unless it exists (enroll): a row
   * with its id when inserted, none when it was there. Two plain INSERTs, not
   * one statement with both as data-modifying CTEs: Citus routes an INSERT
   * ... VALUES to the learner's shard as one task, but plans CTE inserts read
   * by an outer query through the coordinator. The halves reference each
   * other through deferred foreign keys, checked at COMMIT.
   */
  createProgress(db: Db, client: pg.PoolClient) {
    return this.#prepared(client, "coupler_create_progress", (name) =>
      db
        .insert(specializationProgress)
        .values({ studentId: sql.placeholder("userId"), specializationId: sql.placeholder("specialization") })
        .onConflictDoNothing()
        .returning({ id: specializationProgress.id })
        .prepare(name),
    );
  }

  /** The license row's half of `createProgress`, sent after it (the lock order: progress, then license). */
  createLicense(db: Db, client: pg.PoolClient) {
    return this.#prepared(client, "coupler_create_license", (name) =>
      db
        .insert(userLicenses)
        .values({ userId: sql.placeholder("userId"), specializationType: sql.placeholder("specialization") })
        .onConflictDoNothing()
        .returning({ id: userLicenses.id })
        .prepare(name),
    );
  }

  /** Both halves of a pair, whether the user exists, and with `chain` the license's history steps (`readPairQuery`). */
  readPair(db: Db, client: pg.PoolClient, chain: boolean) {
    return this.#prepared(client, chain ? "coupler_read_pair_chain" : "coupler_read_pair", (name) =>
      readPairQuery(db, chain).prepare(name),
    );
  }

  /** A page of a license's history, newest first; `after`: older than a cursor (`readHistoryQuery`). */
  readHistory(db: Db, client: pg.PoolClient, after: boolean) {
    return this.#prepared(client, after ? "coupler_read_history_after" : "coupler_read_history", (name) =>
      readHistoryQuery(db, after).prepare(name),
    );
  }

  /**
   * Every write of a transaction's calls in one statement (see
   * `writeStatement.ts` for its shapes). On Citus (`citus`) a batch's rows
   * are VALUES rows, which Citus routes to the learner's one shard. With
   * `shards` (claimed: `ShardTables`), the statement names them, and every
   * inserted row's id is drawn explicitly (a shard table has no default).
   */
  async write(client: pg.PoolClient, params: WriteParams, shards?: ShardTables): Promise<void> {
    const { name, build, bound } = writeQuery(params, this.citus, shards !== undefined);
    await this.#send(client, name, build, bound, shards);
  }

  /** Sends statement `name` (built once, and once per shard set with its tables renamed). */
  async #send(
    client: pg.PoolClient,
    name: string,
    build: () => SQL,
    bound: Record<string, unknown>,
    shards?: ShardTables,
  ): Promise<void> {
    const key = shards ? shards.statementName(name) : name;
    let query = this.#queries.get(key);
    if (!query) {
      const rendered = dialect.sqlToQuery(build());
      query = shards ? { ...rendered, sql: shards.rename(rendered.sql) } : rendered;
      this.#queries.set(key, query);
    }
    const values = fillPlaceholders(query.params, bound);
    await client.query(this.named ? { name: key, text: query.sql, values } : { text: query.sql, values });
  }

  /** A statement of one connection, built on first use. `name` must identify the statement's shape. */
  #prepared<T>(client: pg.PoolClient, name: string, build: (name: string) => T): T {
    let statements = this.#cache.get(client);
    if (!statements) {
      statements = new Map();
      this.#cache.set(client, statements);
    }
    let statement = statements.get(name) as T | undefined;
    if (statement === undefined) {
      // pg sends a statement named "" as the unnamed statement, parsed on every use.
      statement = build(this.named ? name : "");
      statements.set(name, statement);
    }
    return statement;
  }
}

/**
 * The batch's idempotency keys in their scope (learner, specialization,
 * actor): every stored key of the batch's actors among the batch's keys, as
 * `= any` over the primary key's columns (an index scan, as cheap as one key
 * when the batch has one). It may match an actor with another actor's key
 * string: the coupler uses only exact (actor, key) pairs, and the delete
 * takes only expired keys, which count as never used anyway.
 */
function keysOf() {
  return and(
    eq(idempotencyKeys.userId, lockParam("userId")),
    eq(idempotencyKeys.specializationId, lockParam("specialization")),
    sql`${idempotencyKeys.caller} = any(${lockParam("actors")}::text[])`,
    sql`${idempotencyKeys.key} = any(${lockParam("keys")}::text[])`,
  );
}

/** A key stored less than the retention ago. */
function freshKey() {
  return sql`${idempotencyKeys.createdAt} > now() - make_interval(secs => ${lockParam("retentionMs")}::double precision / 1000)`;
}

/**
 * The level the license's last history row ends at, 1 without history (an
 * index scan backwards), for the license row of the statement it is in.
 * Drizzle leaves columns unqualified in a one-table select, so the license's
 * are spelt out.
 */
function historyEndOf() {
  const h = licenseProgressions;
  const license = (column: AnyPgColumn) =>
    sql`${sql.identifier(getTableName(userLicenses))}.${sql.identifier(column.name)}`;
  // The learner is the parameter, not the outer row's column: Citus plans a subquery as a router query only
  // with an equality on the distribution column it can read (0A000 under FOR UPDATE otherwise).
  return sql<number>`coalesce((select h.${sql.identifier(h.toLevel.name)} from ${h} h where h.${sql.identifier(h.userId.name)} = ${lockParam("userId")} and h.${sql.identifier(h.userLicenseId.name)} = ${license(userLicenses.id)} order by h.${sql.identifier(h.id.name)} desc limit 1), 1)`.mapWith(
    Number,
  );
}
