import pg from "pg";

/** A statement as a client sent it: its text and its parameter values. */
export interface SentStatement {
  text: string;
  values: unknown[];
}

/** What Citus says it would do with one statement (EXPLAIN on the coordinator). */
export interface StatementRouting {
  statement: string;
  /** Every task's count line: `Task Count: N` of the statement and of each of its subplans. */
  taskCounts: number[];
  /** The worker of every task, `host:port`, as EXPLAIN names it (`Node: host=… port=…`). */
  nodes: string[];
  /** Distributed subplans (CTEs or subqueries Citus plans and runs first, each its own round trip to a worker). */
  subplans: number;
  /** EXPLAIN's text. */
  plan: string;
}

const TRANSACTION_CONTROL = /^\s*(begin|commit|rollback|set|savepoint|release)\b/i;

/**
 * Records every statement any pg client of this process sends while `run`
 * runs (pg.Client.prototype.query is wrapped for that time), with its values.
 * For a test that runs one operation at a time: concurrent queries of the
 * process are recorded too.
 */
export async function recordStatements<T>(run: () => Promise<T>): Promise<{ result: T; statements: SentStatement[] }> {
  const statements: SentStatement[] = [];
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const [first, second] = args;
    if (typeof first === "string") statements.push({ text: first, values: Array.isArray(second) ? second : [] });
    else if (first && typeof first === "object" && "text" in first) {
      const config = first as { text: string; values?: unknown[] };
      statements.push({ text: config.text, values: Array.isArray(second) ? second : (config.values ?? []) });
    }
    return original.apply(this, args);
  };
  try {
    const result = await run();
    return { result, statements };
  } finally {
    proto.query = original;
  }
}

/** Whether a statement opens, ends or configures a transaction (no table, so nothing for Citus to route). */
export function isTransactionControl(statement: SentStatement): boolean {
  return TRANSACTION_CONTROL.test(statement.text);
}

/**
 * Asks the Citus coordinator at `url` how it runs each statement:
 * `EXPLAIN (COSTS OFF)` with the statement's own values, in a transaction
 * that is rolled back (EXPLAIN without ANALYZE executes nothing). Transaction
 * control statements are skipped.
 */
export async function explainRouting(url: string, statements: SentStatement[]): Promise<StatementRouting[]> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  try {
    const out: StatementRouting[] = [];
    for (const s of statements.filter((x) => !isTransactionControl(x))) {
      await client.query("begin");
      try {
        const { rows } = await client.query<{ "QUERY PLAN": string }>(`explain (costs off) ${s.text}`, s.values);
        const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
        out.push({
          statement: s.text.replace(/\s+/g, " ").trim().slice(0, 120),
          taskCounts: [...plan.matchAll(/Task Count: (\d+)/g)].map((m) => Number(m[1])),
          nodes: [...plan.matchAll(/Node: host=(\S+) port=(\d+)/g)].map((m) => `${m[1]}:${m[2]}`),
          subplans: [...plan.matchAll(/Distributed Subplan/g)].length,
          plan,
        });
      } finally {
        await client.query("rollback");
      }
    }
    return out;
  } finally {
    await client.end();
  }
}
