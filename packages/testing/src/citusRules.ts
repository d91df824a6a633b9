import type pg from "pg";

/** How the tables of a schema would be laid out on Citus. */
export interface CitusLayout {
  /** Distributed tables and their distribution column (all co-located). */
  distributed: Record<string, string>;
  /** Reference tables (a copy on every node). */
  reference: string[];
}

export interface CitusViolation {
  table: string;
  constraint: string;
  rule: string;
}

interface ConstraintRow {
  table: string;
  constraint: string;
  type: "p" | "u" | "f" | "x";
  columns: string[];
  target: string | null;
  target_columns: string[] | null;
}

/**
 * Reads pg_catalog and reports every key that Citus would refuse for `layout`:
 * a primary key, unique constraint or unique index of a distributed table
 * without its distribution column; a foreign key between distributed tables
 * that does not pair the two distribution columns; a foreign key from a
 * distributed table to a table that is neither distributed nor a reference
 * table; a foreign key from a reference table to a distributed one. Tables of
 * the layout that do not exist, or lack their distribution column, are
 * reported too, so a rename cannot make the check vacuous.
 */
export async function checkCitusRules(
  client: Pick<pg.ClientBase, "query">,
  layout: CitusLayout,
  schema = "public",
): Promise<CitusViolation[]> {
  const violations: CitusViolation[] = [];
  const { rows: columns } = await client.query<{ table: string; column: string }>(
    `select c.relname as table, a.attname as column from pg_attribute a
     join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped`,
    [schema],
  );
  const has = (table: string, column: string) => columns.some((c) => c.table === table && c.column === column);
  for (const [table, column] of Object.entries(layout.distributed)) {
    if (!columns.some((c) => c.table === table))
      violations.push({ table, constraint: "-", rule: "distributed table does not exist" });
    else if (!has(table, column))
      violations.push({ table, constraint: "-", rule: `distribution column ${column} does not exist` });
  }
  for (const table of layout.reference) {
    if (!columns.some((c) => c.table === table))
      violations.push({ table, constraint: "-", rule: "reference table does not exist" });
  }

  const { rows: constraints } = await client.query<ConstraintRow>(
    `select c.relname as table, k.conname as constraint, k.contype as type,
            array(select a.attname::text from unnest(k.conkey) with ordinality u(n, i)
                  join pg_attribute a on a.attrelid = k.conrelid and a.attnum = u.n order by u.i) as columns,
            t.relname as target,
            case when k.contype = 'f' then array(select a.attname::text from unnest(k.confkey) with ordinality u(n, i)
                  join pg_attribute a on a.attrelid = k.confrelid and a.attnum = u.n order by u.i) end as target_columns
     from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
     left join pg_class t on t.oid = k.confrelid
     where n.nspname = $1 and k.contype in ('p', 'u', 'f', 'x')`,
    [schema],
  );
  // Unique indexes that no constraint owns (CREATE UNIQUE INDEX) count as unique constraints.
  const { rows: indexes } = await client.query<{ table: string; index: string; columns: string[] }>(
    `select c.relname as table, i.relname as index,
            array(select a.attname::text from unnest(x.indkey::int2[]) with ordinality u(n, o)
                  join pg_attribute a on a.attrelid = x.indrelid and a.attnum = u.n order by u.o) as columns
     from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class c on c.oid = x.indrelid
     join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = $1 and x.indisunique and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid)`,
    [schema],
  );

  const distribution = (table: string | null) => (table === null ? undefined : layout.distributed[table]);
  const isReference = (table: string | null) => table !== null && layout.reference.includes(table);
  for (const k of constraints) {
    const column = distribution(k.table);
    if (k.type === "f") {
      const targetColumn = distribution(k.target);
      if (column !== undefined && targetColumn !== undefined) {
        const at = k.columns.indexOf(column);
        if (at < 0 || k.target_columns?.[at] !== targetColumn) {
          violations.push({
            table: k.table,
            constraint: k.constraint,
            rule: `foreign key to distributed ${k.target} must map ${column} to ${targetColumn}`,
          });
        }
      } else if (column !== undefined && !isReference(k.target)) {
        violations.push({
          table: k.table,
          constraint: k.constraint,
          rule: `foreign key to ${k.target}, which is neither distributed nor a reference table`,
        });
      } else if (column === undefined && targetColumn !== undefined) {
        violations.push({
          table: k.table,
          constraint: k.constraint,
          rule: `foreign key from a non-distributed table to distributed ${k.target}`,
        });
      }
    } else if (column !== undefined && !k.columns.includes(column)) {
      const kind = k.type === "p" ? "primary key" : k.type === "u" ? "unique constraint" : "exclusion constraint";
      violations.push({
        table: k.table,
        constraint: k.constraint,
        rule: `${kind} (${k.columns.join(", ")}) lacks the distribution column ${column}`,
      });
    }
  }
  for (const index of indexes) {
    const column = distribution(index.table);
    if (column !== undefined && !index.columns.includes(column)) {
      violations.push({
        table: index.table,
        constraint: index.index,
        rule: `unique index (${index.columns.join(", ")}) lacks the distribution column ${column}`,
      });
    }
  }
  return violations;
}
