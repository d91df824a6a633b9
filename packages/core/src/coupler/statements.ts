import { and, eq, fillPlaceholders, not, sql, type Placeholder, type Query, type SQL } from "drizzle-orm";
import { PgDialect, type AnyPgColumn } from "drizzle-orm/pg-core";
import type pg from "pg";
import type { Db } from "../client.ts";
import {
  couplerAuditLog,
  idempotencyKeys,
  licenseProgressions,
  specializationProgress,
  userLicenses,
} from "../schema.ts";

export type LockMode = "wait" | "nowait";

/** The lock statement's parameters. */
export interface LockParams {
  userId: number;
  specialization: string;
  /** The distinct callers and the distinct idempotency keys of the batch's keyed calls. */
  callers: string[];
  keys: string[];
  /** How long a key is remembered, in ms. */
  retentionMs: number;
}

/** The write statement's parameters: the pair's final rows, and a row per history step, idempotency record and audit entry. */
export interface WriteParams {
  userId: number;
  specialization: string;
  progressId: number;
  licenseId: number;
  /** Whether the progress row is rewritten, with these values (the statement's shape; not sent). */
  writeProgress: boolean;
  currentLevel: number;
  totalXp: number;
  completedSessions: number;
  /** Whether the license row is rewritten, with these values (the statement's shape; not sent). */
  writeLicense: boolean;
  licenseLevel: number;
  maxAchievedLevel: number;
  historyFrom: number[];
  historyTo: number[];
  historyReasons: string[];
  historyActors: string[];
  keys: string[];
  keyOperations: string[];
  keyCallers: string[];
  keyHashes: string[];
  /** Each response as JSON text. */
  keyResponses: string[];
  auditOperations: string[];
  auditXp: number[];
  auditSessions: number[];
  auditFrom: (number | null)[];
  auditTo: (number | null)[];
  auditActors: string[];
  auditKeys: (string | null)[];
  auditOutcomes: string[];
}

/** A placeholder whose name must be one of `P`'s keys: a misspelt parameter does not type-check. */
const param = <P>() => <K extends keyof P & string>(name: K) => sql.placeholder(name);
const lockParam = param<LockParams>();
const writeParam = param<WriteParams>();
const dialect = new PgDialect();

/** Each write statement's text and parameters in order, by shape, rendered on first use. */
const writeQueries = new Map<string, Query>();

/**
 * The coupler's hot statements, each a named builder. A statement is built
 * once per pooled connection: Drizzle renders the SQL once, and with
 * `named` PostgreSQL parses and plans it once per connection too (about
 * 0.3 ms a statement here). Without `named` it is sent as an unnamed
 * statement every time, which is what a transaction pooler needs.
 */
export class Statements {
  readonly #cache = new WeakMap<pg.PoolClient, Map<string, unknown>>();

  constructor(readonly named: boolean) {}

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
   * A key is the caller's key for this pair, and only while it is younger
   * than the retention: an older one is not matched, whether or not the
   * purge has run, and the same statement deletes it so the call can store
   * the key afresh.
   */
  lockPair(db: Db, client: pg.PoolClient, mode: LockMode) {
    return this.#prepared(client, `coupler_lock_pair_${mode}`, (name) => {
      const expired = db.$with("expired_key").as(db.delete(idempotencyKeys).where(and(keysOf(), not(freshKey()))));
      const probe = db
        .select({ one: sql`1` })
        .from(specializationProgress)
        .where(progressOf(lockParam("userId"), lockParam("specialization")))
        .for("update", { skipLocked: true });
      return db
        .with(expired)
        .select({
          progress: specializationProgress,
          license: userLicenses,
          stored: {
            caller: idempotencyKeys.caller,
            key: idempotencyKeys.key,
            requestHash: idempotencyKeys.requestHash,
            response: idempotencyKeys.response,
          },
          free: sql<boolean>`exists ${probe}`.mapWith(Boolean),
        })
        .from(specializationProgress)
        .innerJoin(userLicenses, licenseOf(lockParam("userId"), lockParam("specialization")))
        .leftJoin(idempotencyKeys, and(keysOf(), freshKey()))
        .where(progressOf(lockParam("userId"), lockParam("specialization")))
        .for("update", mode === "nowait" ? { of: [specializationProgress, userLicenses], noWait: true } : { of: [specializationProgress, userLicenses] })
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

  /** The license row alone, taken after the progress row. */
  lockLicense(db: Db, client: pg.PoolClient, mode: LockMode) {
    return this.#prepared(client, `coupler_lock_license_${mode}`, (name) =>
      db
        .select()
        .from(userLicenses)
        .where(licenseOf(lockParam("userId"), lockParam("specialization")))
        .for("update", mode === "nowait" ? { noWait: true } : {})
        .prepare(name),
    );
  }

  /**
   * Every write of a batch of calls in one statement, as data-modifying CTEs
   * around the audit insert: the progress and license rows once, a history
   * row per level change, an idempotency record per keyed call and an audit
   * row per call, the last three from typed arrays (unnest ... WITH
   * ORDINALITY keeps the calls' order in the rows' ids). A part with nothing
   * to write is left out (each shape is a statement of its own, prepared
   * once per connection), so a level-up without a level change or a key
   * opens no more tables than it must. Every row is addressed by the learner's id as well, so on
   * Citus the statement routes to one shard. The deferred foreign keys and
   * the coupling guard check the result at COMMIT.
   */
  async write(client: pg.PoolClient, params: WriteParams): Promise<void> {
    const shape = writeShape(params);
    const suffix = (["progress", "license", "history", "idempotency"] as const).map((part) => (shape[part] ? part[0] : "")).join("");
    const name = `coupler_write_${suffix || "audit"}`;
    let query = writeQueries.get(name);
    if (!query) {
      query = dialect.sqlToQuery(writeStatement(shape));
      writeQueries.set(name, query);
    }
    const values = fillPlaceholders(query.params, { ...params });
    await client.query(this.named ? { name, text: query.sql, values } : { text: query.sql, values });
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
 * caller): every stored key of the batch's callers among the batch's keys,
 * as `= any` over the primary key's columns (an index scan, as cheap as one
 * key when the batch has one). It may match a caller with another caller's
 * key string: the coupler uses only exact (caller, key) pairs, and the
 * delete takes only expired keys, which count as never used anyway.
 */
function keysOf() {
  return and(
    eq(idempotencyKeys.userId, lockParam("userId")),
    eq(idempotencyKeys.specializationId, lockParam("specialization")),
    sql`${idempotencyKeys.caller} = any(${lockParam("callers")}::text[])`,
    sql`${idempotencyKeys.key} = any(${lockParam("keys")}::text[])`,
  );
}

/** A key stored less than the retention ago. */
function freshKey() {
  return sql`${idempotencyKeys.createdAt} > now() - make_interval(secs => ${lockParam("retentionMs")}::double precision / 1000)`;
}

/** A column's bare name, for insert lists and SET clauses. */
const col = (column: AnyPgColumn) => sql.identifier(column.name);

/** Which parts of the write statement a batch needs; each combination is its own statement. */
export interface WriteShape {
  progress: boolean;
  license: boolean;
  history: boolean;
  idempotency: boolean;
}

/** The shape of `params`: a part is left out when it has nothing to write (no relation opened, no rows). */
export function writeShape(params: WriteParams): WriteShape {
  return {
    progress: params.writeProgress,
    license: params.writeLicense,
    history: params.historyFrom.length > 0,
    idempotency: params.keys.length > 0,
  };
}

/** See `Statements.write`. */
function writeStatement(shape: WriteShape): SQL {
  const w = writeParam;
  const p = specializationProgress;
  const l = userLicenses;
  const h = licenseProgressions;
  const k = idempotencyKeys;
  const a = couplerAuditLog;
  const ctes: SQL[] = [];
  if (shape.progress) {
    ctes.push(sql`progress as (
  update ${p} set ${col(p.currentLevel)} = ${w("currentLevel")}::int, ${col(p.totalXp)} = ${w("totalXp")}::bigint,
    ${col(p.completedSessions)} = ${w("completedSessions")}::int, ${col(p.updatedAt)} = now()
  where ${p.studentId} = ${w("userId")}::int and ${p.id} = ${w("progressId")}::int
)`);
  }
  if (shape.license) {
    ctes.push(sql`license as (
  update ${l} set ${col(l.currentLevel)} = ${w("licenseLevel")}::int, ${col(l.maxAchievedLevel)} = ${w("maxAchievedLevel")}::int, ${col(l.updatedAt)} = now()
  where ${l.userId} = ${w("userId")}::int and ${l.id} = ${w("licenseId")}::int
)`);
  }
  if (shape.history) {
    ctes.push(sql`history as (
  insert into ${h} (${col(h.userId)}, ${col(h.userLicenseId)}, ${col(h.fromLevel)}, ${col(h.toLevel)}, ${col(h.reason)}, ${col(h.actor)})
  select ${w("userId")}::int, ${w("licenseId")}::int, s.from_level, s.to_level, s.reason, s.actor
  from unnest(${w("historyFrom")}::int[], ${w("historyTo")}::int[], ${w("historyReasons")}::text[], ${w("historyActors")}::text[])
    with ordinality as s(from_level, to_level, reason, actor, n)
  order by s.n
)`);
  }
  if (shape.idempotency) {
    ctes.push(sql`idempotency as (
  insert into ${k} (${col(k.key)}, ${col(k.operation)}, ${col(k.userId)}, ${col(k.specializationId)}, ${col(k.caller)}, ${col(k.requestHash)}, ${col(k.response)})
  select s.key, s.operation, ${w("userId")}::int, ${w("specialization")}::text, s.caller, s.request_hash, s.response::jsonb
  from unnest(${w("keys")}::text[], ${w("keyOperations")}::text[], ${w("keyCallers")}::text[], ${w("keyHashes")}::text[], ${w("keyResponses")}::text[])
    as s(key, operation, caller, request_hash, response)
)`);
  }
  const withClause = ctes.length > 0 ? sql`with ${sql.join(ctes, sql`, `)}
` : sql``;
  return sql`${withClause}insert into ${a} (${col(a.operation)}, ${col(a.userId)}, ${col(a.specializationId)}, ${col(a.xpDelta)}, ${col(a.sessionsDelta)},
  ${col(a.fromLevel)}, ${col(a.toLevel)}, ${col(a.actor)}, ${col(a.idempotencyKey)}, ${col(a.outcome)})
select s.operation, ${w("userId")}::int, ${w("specialization")}::text, s.xp, s.sessions, s.from_level, s.to_level, s.actor, s.key, s.outcome
from unnest(${w("auditOperations")}::text[], ${w("auditXp")}::bigint[], ${w("auditSessions")}::int[], ${w("auditFrom")}::int[],
  ${w("auditTo")}::int[], ${w("auditActors")}::text[], ${w("auditKeys")}::text[], ${w("auditOutcomes")}::text[])
  with ordinality as s(operation, xp, sessions, from_level, to_level, actor, key, outcome, n)
order by s.n`;
}

export function progressOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(specializationProgress.studentId, userId), eq(specializationProgress.specializationId, specialization));
}

export function licenseOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(userLicenses.userId, userId), eq(userLicenses.specializationType, specialization));
}
