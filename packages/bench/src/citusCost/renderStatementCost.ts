import type { ShardNames, StatementShape } from "./statementShapes.ts";

/** One shape's level-ups on one node in one round. */
export interface StatementCostRun {
  round: number;
  shape: StatementShape;
  node: "plain" | "worker";
  /** The node's PostgreSQL CPU per level-up, µs. */
  nodeCpuUs: number;
  /** The coordinator's, µs per level-up, while the worker ran (null for the plain server). */
  coordinatorCpuUs: number | null;
}

/** What `citus:statement-cost` writes to summary.json. */
export interface StatementCostResults {
  startedAt: string;
  source: { commit: string | null; dirty: boolean | null };
  /** Node.js version of the run. */
  node: string;
  citus: string | null;
  transactions: number;
  rounds: number;
  shards: ShardNames;
  runs: StatementCostRun[];
}

const LABEL: Record<StatementShape, string> = {
  coupler: "the coupler's statements on the (distributed) tables, prepared",
  "fast-path": "fast-path router queries, planned each time",
  "shard-tables": "the coupler's statements on the learner's shard tables, claimed first (direct routing now)",
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** The median over rounds of each shape on each node, with its ratio to the plain server's coupler statements. */
export function statementCostRows(results: StatementCostResults) {
  const of = (shape: StatementShape, node: "plain" | "worker") =>
    results.runs.filter((r) => r.shape === shape && r.node === node);
  const plain = median(of("coupler", "plain").map((r) => r.nodeCpuUs));
  const rows: { label: string; node: string; cpuUs: number; coordinatorUs: number | null; ratio: number }[] = [];
  const add = (shape: StatementShape, node: "plain" | "worker") => {
    const runs = of(shape, node);
    if (runs.length === 0) return;
    const cpuUs = median(runs.map((r) => r.nodeCpuUs));
    const coordinator = runs.flatMap((r) => (r.coordinatorCpuUs === null ? [] : [r.coordinatorCpuUs]));
    rows.push({
      label: LABEL[shape],
      node: node === "plain" ? "plain PostgreSQL" : "Citus worker (the learner's shard)",
      cpuUs,
      coordinatorUs: coordinator.length > 0 ? median(coordinator) : null,
      ratio: cpuUs / plain,
    });
  };
  add("coupler", "plain");
  for (const shape of ["coupler", "fast-path", "shard-tables"] as const) add(shape, "worker");
  return rows;
}

/** report.md of a `citus:statement-cost` run. */
export function renderStatementCost(results: StatementCostResults): string {
  const rows = statementCostRows(results);
  const commit = results.source.commit
    ? `${results.source.commit.slice(0, 7)}${results.source.dirty ? " (uncommitted changes)" : ""}`
    : "unknown";
  return `# PostgreSQL CPU per level-up: plain server and Citus worker

Commit ${commit}, Node ${results.node}, Citus ${results.citus ?? "?"}; one connection, one learner, ${results.transactions} level-ups per shape and node in each of ${results.rounds} round(s), shapes interleaved (every other round reversed). CPU is each node's cgroup count (cpuacct), fsync on. Medians over the rounds. The prepared shapes send BEGIN and what follows it up to the lock statement in one round trip (a pgbench pipeline), as the coupler does: BEGIN with SET LOCAL, or on the worker BEGIN with the claim; the fast-path shape sends each statement in a round trip of its own.

| statements | node | PostgreSQL CPU per level-up | × plain | coordinator meanwhile |
|---|---|---:|---:|---:|
${rows.map((r) => `| ${r.label} | ${r.node} | ${r.cpuUs.toFixed(0)} µs | ${r.ratio.toFixed(2)}× | ${r.coordinatorUs === null ? "–" : `${r.coordinatorUs.toFixed(0)} µs`} |`).join("\n")}

The learner's shards: ${Object.values(results.shards.tables).join(", ")}.
`;
}
