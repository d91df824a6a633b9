/**
 * Over 400 lines, knowingly: the lock statement and the write statement's
 * builder (writeShape, rowsOf, bindRows, writeStatement: the three row
 * shapes for one call, arrays and Citus VALUES rows) share the typed
 * placeholders and the prepared-statement cache declared here. Moving the
 * write builder to a file of its own is the natural split; it was not done
 * in the release that added the Citus row shape, to keep that change small.
 */
import {
  and,
  eq,
  fillPlaceholders,
  not,
  sql,
  type Placeholder,
  type Query,
  type SQL,
  type SQLChunk,
} from "drizzle-orm";
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
const param =
  <P>() =>
  <K extends keyof P & string>(name: K) =>
    sql.placeholder(name);
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
        .for(
          "update",
          mode === "nowait"
            ? { of: [specializationProgress, userLicenses], noWait: true }
            : { of: [specializationProgress, userLicenses] },
        )
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
   * row per call. A batch of one call writes one VALUES row of scalar
   * parameters per part. A bigger batch writes from typed arrays (unnest ...
   * WITH ORDINALITY keeps the calls' order in the rows' ids), one statement
   * for any batch size; on Citus (`citus`) from VALUES rows instead, one
   * statement per row counts, because Citus router-plans only INSERT ...
   * VALUES (see `RowsMode`). A part with nothing to write is left out (each
   * shape is a statement of its own, prepared once per connection), so a
   * level-up without a level change or a key opens no more tables than it
   * must. Every row is addressed by the learner's id as well, so on Citus the
   * statement routes to one shard. The deferred foreign keys and the
   * coupling guard check the result at COMMIT.
   */
  async write(client: pg.PoolClient, params: WriteParams): Promise<void> {
    const shape = writeShape(params);
    const counts: WriteCounts = {
      historyFrom: params.historyFrom.length,
      keys: params.keys.length,
      auditOperations: params.auditOperations.length,
    };
    const single = counts.auditOperations === 1 && params.historyFrom.length <= 1 && params.keys.length <= 1;
    const mode: RowsMode = single ? "one" : this.citus ? "values" : "arrays";
    const suffix = (["progress", "license", "history", "idempotency"] as const)
      .map((part) => (shape[part] ? part[0] : ""))
      .join("");
    const rows = mode === "values" ? `_${counts.historyFrom}_${counts.keys}_${counts.auditOperations}` : "";
    const name = `coupler_write_${mode === "arrays" ? "many" : mode === "one" ? "one" : "rows"}_${suffix || "audit"}${rows}`;
    let query = writeQueries.get(name);
    if (!query) {
      query = dialect.sqlToQuery(writeStatement(shape, mode, counts));
      writeQueries.set(name, query);
    }
    const values = fillPlaceholders(query.params, bindRows(params, mode));
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

/** The array parameters of the write statement: a row per history step, idempotency record or audit entry. */
type RowParam = {
  [K in keyof WriteParams]: WriteParams[K] extends unknown[] ? K : never;
}[keyof WriteParams];

/**
 * How the write statement carries a part's rows (see `Statements.write`):
 * - `one`, a batch of one (the usual case), on every server: one VALUES row
 *   of scalar parameters;
 * - `arrays`, plain PostgreSQL: `unnest` of typed arrays WITH ORDINALITY, in
 *   order, one statement for every batch size;
 * - `values`, Citus: a VALUES row of scalar parameters per row, one
 *   statement per row counts. Citus router-plans INSERT ... VALUES, but runs
 *   INSERT ... SELECT without a distributed table in its FROM through the
 *   coordinator, and cannot plan it at all next to data-modifying CTEs with
 *   parameters ("could not create distributed plan"; SCALING.md).
 */
export type RowsMode = "one" | "arrays" | "values";

/**
 * What follows `insert into t (fixed..., columns...)`: the rows, each the
 * `fixed` values (the same in every row) then the row's element of every
 * array parameter in `columns` (`[parameter, type, cast after the type]`).
 * Row i of parameter `p` is the placeholder `p.i` (bound by `bindRows`).
 */
function rowsOf(mode: RowsMode, counts: WriteCounts, fixed: SQL[], columns: [RowParam, string, string?][]): SQL {
  const cast = (value: SQL, after?: string) => (after ? sql`(${value})::${sql.raw(after)}` : value);
  const row = (element: (name: RowParam) => SQLChunk) =>
    sql`(${sql.join([...fixed, ...columns.map(([name, type, after]) => cast(sql`${element(name)}::${sql.raw(type)}`, after))], sql`, `)})`;
  if (mode === "one") return sql`values ${row((name) => writeParam(name))}`;
  if (mode === "values") {
    const [first] = columns;
    const rows = Array.from({ length: first ? (counts[first[0]] ?? 0) : 0 }, (_, i) =>
      row((name) => sql.placeholder(`${name}.${i}`)),
    );
    return sql`values ${sql.join(rows, sql`, `)}`;
  }
  const aliases = columns.map((_, i) => sql.raw(`c${i}`));
  const arrays = columns.map(([name, type]) => sql`${writeParam(name)}::${sql.raw(type)}[]`);
  const selected = columns.map(([, , after], i) => cast(sql`s.${aliases[i]}`, after));
  return sql`select ${sql.join([...fixed, ...selected], sql`, `)} from unnest(${sql.join(arrays, sql`, `)}) with ordinality as s(${sql.join(aliases, sql`, `)}, n) order by s.n`;
}

/** The row count of each part (by its first array parameter), for the `values` mode. */
type WriteCounts = Partial<Record<RowParam, number>>;

/** The parameter values of `mode`: each array's first element as a scalar (`one`), or element i as `name.i` (n rows). */
function bindRows(params: WriteParams, mode: RowsMode): Record<string, unknown> {
  const bound: Record<string, unknown> = { ...params };
  if (mode === "arrays") return bound;
  for (const [name, value] of Object.entries(params)) {
    if (!Array.isArray(value)) continue;
    if (mode === "one") bound[name] = value[0] ?? null;
    else if (mode === "values") value.forEach((element, i) => (bound[`${name}.${i}`] = element));
  }
  return bound;
}

/** See `Statements.write`. */
function writeStatement(shape: WriteShape, mode: RowsMode, counts: WriteCounts): SQL {
  const w = writeParam;
  const p = specializationProgress;
  const l = userLicenses;
  const h = licenseProgressions;
  const k = idempotencyKeys;
  const a = couplerAuditLog;
  const list = (items: SQLChunk[]) => sql.join(items, sql`, `);
  const ctes: SQL[] = [];
  if (shape.progress) {
    ctes.push(sql`progress as (
  update ${p} set ${col(p.currentLevel)} = ${w("currentLevel")}::int, ${col(p.totalXp)} = ${w("totalXp")}::bigint,
    ${col(p.completedSessions)} = ${w("completedSessions")}::int, ${col(p.updatedAt)} = now()
  where ${p.studentId} = ${w("userId")}::bigint and ${p.id} = ${w("progressId")}::bigint
)`);
  }
  if (shape.license) {
    ctes.push(sql`license as (
  update ${l} set ${col(l.currentLevel)} = ${w("licenseLevel")}::int, ${col(l.maxAchievedLevel)} = ${w("maxAchievedLevel")}::int, ${col(l.updatedAt)} = now()
  where ${l.userId} = ${w("userId")}::bigint and ${l.id} = ${w("licenseId")}::bigint
)`);
  }
  const learner = [sql`${w("userId")}::bigint`];
  const pair = [...learner, sql`${w("specialization")}::text`];
  if (shape.history) {
    ctes.push(sql`history as (
  insert into ${h} (${list([h.userId, h.userLicenseId, h.fromLevel, h.toLevel, h.reason, h.actor].map(col))})
  ${rowsOf(
    mode,
    counts,
    [...learner, sql`${w("licenseId")}::bigint`],
    [
      ["historyFrom", "int"],
      ["historyTo", "int"],
      ["historyReasons", "text"],
      ["historyActors", "text"],
    ],
  )}
)`);
  }
  if (shape.idempotency) {
    ctes.push(sql`idempotency as (
  insert into ${k} (${list([k.userId, k.specializationId, k.key, k.operation, k.caller, k.requestHash, k.response].map(col))})
  ${rowsOf(mode, counts, pair, [
    ["keys", "text"],
    ["keyOperations", "text"],
    ["keyCallers", "text"],
    ["keyHashes", "text"],
    ["keyResponses", "text", "jsonb"],
  ])}
)`);
  }
  const withClause = ctes.length > 0 ? sql`with ${list(ctes)}\n` : sql``;
  const columns = [
    a.userId,
    a.specializationId,
    a.operation,
    a.xpDelta,
    a.sessionsDelta,
    a.fromLevel,
    a.toLevel,
    a.actor,
    a.idempotencyKey,
    a.outcome,
  ];
  return sql`${withClause}insert into ${a} (${list(columns.map(col))})
${rowsOf(mode, counts, pair, [
  ["auditOperations", "text"],
  ["auditXp", "bigint"],
  ["auditSessions", "int"],
  ["auditFrom", "int"],
  ["auditTo", "int"],
  ["auditActors", "text"],
  ["auditKeys", "text"],
  ["auditOutcomes", "text"],
])}`;
}

export function progressOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(specializationProgress.studentId, userId), eq(specializationProgress.specializationId, specialization));
}

export function licenseOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(userLicenses.userId, userId), eq(userLicenses.specializationType, specialization));
}
