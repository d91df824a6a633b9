import { getTableName, sql, type SQL, type SQLChunk } from "drizzle-orm";
import type { AnyPgColumn } from "drizzle-orm/pg-core";
import {
  couplerAuditLog,
  idempotencyKeys,
  licenseProgressions,
  specializationProgress,
  userLicenses,
} from "../schema.ts";

/** How the write statement treats one half of the pair: leaves it, updates it, or creates it (sync of a missing half). */
export type RowWrite = "none" | "update" | "insert";

/** The write statement's parameters: the pair's final rows, and a row per history step, idempotency record and audit entry. */
export interface WriteParams {
  userId: number;
  specialization: string;
  /** The rows' ids (0 for a half that is created). */
  progressId: number;
  licenseId: number;
  /** What happens to the progress row, with these values (the statement's shape; not sent). */
  progressWrite: RowWrite;
  /**
   * Whether an updated progress row's level differs from the locked one (the
   * statement's shape; not sent). When it does not, the UPDATE leaves
   * `current_level` out of its SET list, so the coupling guard's trigger
   * (UPDATE OF current_level) does not fire: a level-up that earns XP but no
   * level (most of them) skips the guard's reads at COMMIT, which on Citus
   * are three local tasks.
   */
  progressLevelChanged: boolean;
  currentLevel: number;
  totalXp: number;
  completedSessions: number;
  /** What happens to the license row, with these values (the statement's shape; not sent). */
  licenseWrite: RowWrite;
  licenseLevel: number;
  maxAchievedLevel: number;
  historyFrom: number[];
  historyTo: number[];
  historyReasons: string[];
  historyActors: string[];
  keys: string[];
  keyOperations: string[];
  keyActors: string[];
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

/** A placeholder whose name must be one of WriteParams's keys: a misspelt parameter does not type-check. */
const writeParam = <K extends keyof WriteParams & string>(name: K) => sql.placeholder(name);

/** Which parts of the write statement a transaction needs; each combination is its own statement. */
interface WriteShape {
  progress: RowWrite;
  /** An updated progress row's SET list includes its level. */
  progressLevel: boolean;
  license: RowWrite;
  history: boolean;
  idempotency: boolean;
}

/**
 * How the write statement carries a part's rows:
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

/** The array parameters of the write statement: a row per history step, idempotency record or audit entry. */
type RowParam = {
  [K in keyof WriteParams]: WriteParams[K] extends unknown[] ? K : never;
}[keyof WriteParams];

/** The row count of each part (by its first array parameter), for the `values` mode. */
type WriteCounts = Partial<Record<RowParam, number>>;

/**
 * The write statement for `params`: its name (one per shape), how to build
 * it, and its parameter values. It writes every change of a transaction's
 * calls as data-modifying CTEs around the audit insert: the progress and
 * license rows once (updated, or created when sync rebuilds a missing half),
 * a history row per level change or repair, an idempotency record per keyed
 * call and an audit row per call. A batch of one call writes one VALUES row
 * of scalar parameters per part. A bigger batch writes from typed arrays
 * (unnest ... WITH ORDINALITY keeps the calls' order in the rows' ids), one
 * statement for any batch size; on Citus (`citus`) from VALUES rows instead,
 * one statement per row counts (see `RowsMode`). A part with nothing to write
 * is left out (each shape is a statement of its own, prepared once per
 * connection), so a level-up without a level change or a key opens no more
 * tables than it must. Every row is addressed by the learner's id as well,
 * so on Citus the statement routes to one shard. The deferred foreign keys
 * and the coupling guard check the result at COMMIT.
 */
export function writeQuery(
  params: WriteParams,
  citus: boolean,
  explicitIds = false,
): { name: string; build: () => SQL; bound: Record<string, unknown> } {
  const shape: WriteShape = {
    progress: params.progressWrite,
    progressLevel: params.progressLevelChanged,
    license: params.licenseWrite,
    history: params.historyFrom.length > 0,
    idempotency: params.keys.length > 0,
  };
  const counts: WriteCounts = {
    historyFrom: params.historyFrom.length,
    keys: params.keys.length,
    auditOperations: params.auditOperations.length,
  };
  const single = counts.auditOperations === 1 && params.historyFrom.length <= 1 && params.keys.length <= 1;
  const mode: RowsMode = single ? "one" : citus ? "values" : "arrays";
  const letter = (write: RowWrite, l: string) => (write === "update" ? l : write === "insert" ? l.toUpperCase() : "");
  // "x": the progress row's XP and sessions without its level.
  const suffix =
    letter(shape.progress, shape.progress === "update" && !shape.progressLevel ? "x" : "p") +
    letter(shape.license, "l") +
    (shape.history ? "h" : "") +
    (shape.idempotency ? "i" : "");
  const rows = mode === "values" ? `_${counts.historyFrom}_${counts.keys}_${counts.auditOperations}` : "";
  const name = `coupler_write_${mode === "arrays" ? "many" : mode === "one" ? "one" : "rows"}_${suffix || "audit"}${rows}`;
  return { name, build: () => writeStatement(shape, mode, counts, explicitIds), bound: bindRows(params, mode) };
}

/** A column's bare name, for insert lists and SET clauses. */
const col = (column: AnyPgColumn) => sql.identifier(column.name);

/**
 * What follows `insert into t (fixed..., columns...)`: the rows, each the
 * `fixed` values (the same in every row, or built from the row's number,
 * 1 for the first) then the row's element of every array parameter in
 * `columns` (`[parameter, type, cast after the type]`). Row i of parameter
 * `p` is the placeholder `p.i` (bound by `bindRows`).
 */
function rowsOf(
  mode: RowsMode,
  counts: WriteCounts,
  fixed: SQL[] | ((row: SQL) => SQL[]),
  columns: [RowParam, string, string?][],
): SQL {
  const leading = typeof fixed === "function" ? fixed : () => fixed;
  const cast = (value: SQL, after?: string) => (after ? sql`(${value})::${sql.raw(after)}` : value);
  const row = (n: SQL, element: (name: RowParam) => SQLChunk) =>
    sql`(${sql.join([...leading(n), ...columns.map(([name, type, after]) => cast(sql`${element(name)}::${sql.raw(type)}`, after))], sql`, `)})`;
  if (mode === "one") return sql`values ${row(sql`1`, (name) => writeParam(name))}`;
  if (mode === "values") {
    const [first] = columns;
    const rows = Array.from({ length: first ? (counts[first[0]] ?? 0) : 0 }, (_, i) =>
      row(sql.raw(String(i + 1)), (name) => sql.placeholder(`${name}.${i}`)),
    );
    return sql`values ${sql.join(rows, sql`, `)}`;
  }
  const aliases = columns.map((_, i) => sql.raw(`c${i}`));
  const arrays = columns.map(([name, type]) => sql`${writeParam(name)}::${sql.raw(type)}[]`);
  const selected = columns.map(([, , after], i) => cast(sql`s.${aliases[i]}`, after));
  return sql`select ${sql.join([...leading(sql`s.n`), ...selected], sql`, `)} from unnest(${sql.join(arrays, sql`, `)}) with ordinality as s(${sql.join(aliases, sql`, `)}, n) order by s.n`;
}

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

/**
 * See `writeQuery`. `explicitIds`: every inserted row's id is drawn from
 * its table's sequence in the statement, for a statement on the shard
 * tables (`ShardTables`), which have no default for them; a history or
 * audit row's id is also ordered after the learner's highest, as the
 * learner-id-order trigger would order it (`citus/learnerIdOrder.ts`),
 * which a claimed transaction skips.
 */
function writeStatement(shape: WriteShape, mode: RowsMode, counts: WriteCounts, explicitIds: boolean): SQL {
  const w = writeParam;
  const p = specializationProgress;
  const l = userLicenses;
  const h = licenseProgressions;
  const k = idempotencyKeys;
  const a = couplerAuditLog;
  const list = (items: SQLChunk[]) => sql.join(items, sql`, `);
  const ctes: SQL[] = [];
  const learner = [sql`${w("userId")}::bigint`];
  // The id column and its value, where ids are explicit: nextval per row, in the rows' order, of the
  // identity's sequence, which the migrations name <table>_id_seq (a constant, resolved when parsed).
  const idColumn = (table: typeof p | typeof l | typeof h | typeof a) => (explicitIds ? [col(table.id)] : []);
  const idValue = (table: typeof p | typeof l | typeof h | typeof a) =>
    explicitIds ? [sql`nextval(${sql.raw(`'${getTableName(table)}_id_seq'`)}::regclass)`] : [];
  // Row n's id in history or audit: above the learner's highest by at least n (GREATEST ignores a NULL
  // max). The claim took the learner-id-order lock (ShardTables.claimOn), so this statement's snapshot,
  // taken after it, holds every row of the learner another transaction committed before.
  const orderedId = (table: typeof h | typeof a) => (n: SQL) =>
    explicitIds
      ? [
          sql`greatest(${idValue(table)[0]}, (select max(${table.id}) from ${table} where ${table.userId} = ${w("userId")}::bigint) + ${n})`,
        ]
      : [];
  const pair = [...learner, sql`${w("specialization")}::text`];
  if (shape.progress === "update") {
    ctes.push(sql`progress as (
  update ${p} set ${shape.progressLevel ? sql`${col(p.currentLevel)} = ${w("currentLevel")}::int, ` : sql``}${col(p.totalXp)} = ${w("totalXp")}::bigint,
    ${col(p.completedSessions)} = ${w("completedSessions")}::int, ${col(p.updatedAt)} = now()
  where ${p.studentId} = ${w("userId")}::bigint and ${p.id} = ${w("progressId")}::bigint
)`);
  } else if (shape.progress === "insert") {
    ctes.push(sql`progress as (
  insert into ${p} (${list([...idColumn(p), ...[p.studentId, p.specializationId, p.currentLevel, p.totalXp, p.completedSessions].map(col)])})
  values (${list([...idValue(p), ...pair, sql`${w("currentLevel")}::int`, sql`${w("totalXp")}::bigint`, sql`${w("completedSessions")}::int`])})
)`);
  }
  if (shape.license === "update") {
    ctes.push(sql`license as (
  update ${l} set ${col(l.currentLevel)} = ${w("licenseLevel")}::int, ${col(l.maxAchievedLevel)} = ${w("maxAchievedLevel")}::int, ${col(l.updatedAt)} = now()
  where ${l.userId} = ${w("userId")}::bigint and ${l.id} = ${w("licenseId")}::bigint
)`);
  } else if (shape.license === "insert") {
    ctes.push(sql`license as (
  insert into ${l} (${list([...idColumn(l), ...[l.userId, l.specializationType, l.currentLevel, l.maxAchievedLevel].map(col)])})
  values (${list([...idValue(l), ...pair, sql`${w("licenseLevel")}::int`, sql`${w("maxAchievedLevel")}::int`])})
  returning ${col(l.id)}
)`);
  }
  if (shape.history) {
    // A license created by this statement has its id only in the CTE's RETURNING.
    const licenseId = shape.license === "insert" ? sql`(select id from license)` : sql`${w("licenseId")}::bigint`;
    ctes.push(sql`history as (
  insert into ${h} (${list([...idColumn(h), ...[h.userId, h.userLicenseId, h.fromLevel, h.toLevel, h.reason, h.actor].map(col)])})
  ${rowsOf(mode, counts, (n) => [...orderedId(h)(n), ...learner, licenseId], [
    ["historyFrom", "int"],
    ["historyTo", "int"],
    ["historyReasons", "text"],
    ["historyActors", "text"],
  ])}
)`);
  }
  if (shape.idempotency) {
    ctes.push(sql`idempotency as (
  insert into ${k} (${list([k.userId, k.specializationId, k.key, k.operation, k.caller, k.requestHash, k.response].map(col))})
  ${rowsOf(mode, counts, pair, [
    ["keys", "text"],
    ["keyOperations", "text"],
    ["keyActors", "text"],
    ["keyHashes", "text"],
    ["keyResponses", "text", "jsonb"],
  ])}
)`);
  }
  const withClause = ctes.length > 0 ? sql`with ${list(ctes)}\n` : sql``;
  const columns = [
    ...(explicitIds ? [a.id] : []),
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
${rowsOf(mode, counts, (n) => [...orderedId(a)(n), ...pair], [
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
