/**
 * `pnpm --filter @coupler/bench citus:statement-cost [--rounds N] [--transactions N] [--out DIR]`:
 * what PostgreSQL spends on one level-up on a plain server and on the Citus
 * worker that holds the learner, shape by shape (`statementShapes.ts`), with
 * Citus's own work told apart from the rest. It starts one plain server and
 * a coordinator with one worker from the installed PostgreSQL (fsync on),
 * migrates and seeds both, puts each node's postmaster in a cpuacct cgroup
 * of its own (no quota), then runs pgbench on one connection, one learner,
 * `--transactions` level-ups per shape and node, in `--rounds` rounds that
 * interleave the shapes. A node's CPU is the kernel's count for its group
 * (backends, background workers and WAL writes alike), per level-up in µs.
 * Writes report.md and summary.json to DIR (default results/<time>-statement-cost).
 * Needs root (cgroups), pgbench and the citus extension; says which is missing.
 */
import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SHARD_ROUTED_TABLES, ShardTables, distributeOnCitus, migrate } from "@coupler/core";
import { adminQuery, withDatabase } from "@coupler/embedded";
import pg from "pg";
import { CpuQuotaGroup, cpuQuotaSupport } from "../cpu/CpuQuotaGroup.ts";
import { findPostmaster } from "../cpu/processCpu.ts";
import { findExecutable } from "../findExecutable.ts";
import { seedLearners } from "../seedLearners.ts";
import { sourceInfo } from "../sourceInfo.ts";
import { renderStatementCost, type StatementCostResults, type StatementCostRun } from "./renderStatementCost.ts";
import {
  LEVEL_UP_TABLES,
  SHAPE_PROTOCOL,
  STATEMENT_SHAPES,
  idSequences,
  shapeScript,
  type ShardNames,
} from "./statementShapes.ts";

const LOCK_TIMEOUT_MS = 5000;
const XP = { min: 10, max: 50 };
const DATABASE = "coupler_statement_cost";
const REPO = fileURLToPath(new URL("../../../..", import.meta.url));

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "3" },
    transactions: { type: "string", default: "2000" },
    out: { type: "string" },
  },
});
const rounds = Number(values.rounds);
const transactions = Number(values.transactions);
if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(transactions) || transactions < 100) {
  process.stderr.write("citus:statement-cost: --rounds must be an integer ≥ 1 and --transactions one ≥ 100\n");
  process.exit(2);
}
const pgbench = findExecutable("pgbench", process.env.PGBENCH_BIN, process.env.PATH ?? "", {});
const quota = await cpuQuotaSupport();
const { citusAvailability, startCitusCluster, startPlainPostgres } = await import("@coupler/testing");
const citus = citusAvailability();
const missing = [
  pgbench ? undefined : "pgbench (on PATH or PGBENCH_BIN)",
  quota.supported ? undefined : `cgroups: ${quota.reason}`,
  citus.available ? undefined : `Citus: ${citus.reason}`,
].filter((m) => m !== undefined);
if (missing.length > 0 || !pgbench) {
  process.stderr.write(`citus:statement-cost cannot run here: ${missing.join("; ")}\n`);
  process.exit(2);
}

const cleanup: (() => Promise<unknown>)[] = [];
const stop = async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => {});
};
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.once(signal, () => void stop().then(() => process.exit(130)));

try {
  const plain = await startPlainPostgres({ durable: true });
  cleanup.push(() => plain.stop());
  await adminQuery(plain.adminUrl, `CREATE DATABASE ${DATABASE}`);
  const plainUrl = withDatabase(plain.adminUrl, DATABASE);
  const cluster = await startCitusCluster({ workers: 1, durable: true });
  cleanup.push(() => cluster.stop());
  const { url: coordinatorUrl, workerUrls } = await cluster.createDatabase(DATABASE);
  const workerUrl = workerUrls[0];
  if (!workerUrl) throw new Error("the cluster started without a worker");
  await migrate(plainUrl);
  await migrate(coordinatorUrl);
  await distributeOnCitus(coordinatorUrl);

  const learners = new Map<string, number>();
  for (const [name, url] of [
    ["plain", plainUrl],
    ["citus", coordinatorUrl],
  ] as const) {
    const pool = new pg.Pool({ connectionString: url, max: 1 });
    try {
      learners.set(name, (await seedLearners(pool, 100, "statement-cost")).first);
    } finally {
      await pool.end();
    }
  }
  const learner = learners.get("citus") ?? 0;
  const shards = await shardNames(coordinatorUrl, learner);

  const groups = new Map<string, string>();
  for (const [node, url] of [
    ["plain", plainUrl],
    ["coordinator", coordinatorUrl],
    ["worker", workerUrl],
  ] as const) {
    const postmaster = await withClient(url, (c) => findPostmaster((text) => c.query<{ pid: number }>(text)));
    if (postmaster === undefined) throw new Error(`no postmaster found for the ${node} node`);
    // Two cores: no quota on this machine, only the count.
    const group = await CpuQuotaGroup.create(`coupler-statement-cost-${process.pid}-${node}`, 2);
    cleanup.push(() => group.remove());
    await group.add(postmaster);
    const usage = await group.usageFile();
    if (!usage) throw new Error("no cpuacct.usage for the node's group: cannot count its CPU");
    groups.set(node, usage);
  }
  const readUsage = async (node: string) => BigInt((await readFile(groups.get(node) ?? "", "utf8")).trim());

  const workDir = values.out ?? join(REPO, "packages/bench/results", `${stamp()}-statement-cost`);
  await mkdir(workDir, { recursive: true });
  const runs: StatementCostRun[] = [];
  for (let round = 1; round <= rounds; round++) {
    // Every other round in reverse, so no shape always runs on the bigger tables.
    const order = round % 2 === 1 ? STATEMENT_SHAPES : [...STATEMENT_SHAPES].reverse();
    for (const shape of order) {
      const targets: { node: "plain" | "worker"; url: string; learner: number }[] = [
        { node: "worker", url: workerUrl, learner },
      ];
      if (shape === "coupler") targets.unshift({ node: "plain", url: plainUrl, learner: learners.get("plain") ?? 0 });
      for (const target of targets) {
        const script = join(workDir, `${shape}.pgbench.sql`);
        await writeFile(script, shapeScript(shape, LOCK_TIMEOUT_MS, shards));
        const before = { node: await readUsage(target.node), coordinator: await readUsage("coordinator") };
        await runPgbench(pgbench, script, SHAPE_PROTOCOL[shape], target.url, target.learner);
        const after = { node: await readUsage(target.node), coordinator: await readUsage("coordinator") };
        const perLevelUp = (a: bigint, b: bigint) => Number(a - b) / 1000 / transactions;
        runs.push({
          round,
          shape,
          node: target.node,
          nodeCpuUs: perLevelUp(after.node, before.node),
          coordinatorCpuUs: target.node === "worker" ? perLevelUp(after.coordinator, before.coordinator) : null,
        });
        process.stderr.write(
          `round ${round} ${shape} on ${target.node}: ${runs.at(-1)?.nodeCpuUs.toFixed(0)} µs of PostgreSQL CPU per level-up\n`,
        );
      }
    }
  }
  const { rows } = await withClient(coordinatorUrl, (c) =>
    c.query<{ extversion: string }>("select extversion from pg_extension where extname = 'citus'"),
  );
  const results: StatementCostResults = {
    startedAt: new Date().toISOString(),
    source: await sourceInfo(REPO),
    node: process.version,
    citus: rows[0]?.extversion ?? null,
    transactions,
    rounds,
    shards,
    runs,
  };
  await writeFile(join(workDir, "summary.json"), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(workDir, "report.md"), renderStatementCost(results));
  process.stdout.write(`${workDir}\n`);
} finally {
  await stop();
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/**
 * The learner's shard of every table the coupler's statements name on a
 * worker (core's SHARD_ROUTED_TABLES), as the worker knows it; the id
 * sequences; and the coupler's claim on those shards.
 */
async function shardNames(coordinatorUrl: string, learner: number): Promise<ShardNames> {
  return withClient(coordinatorUrl, async (c) => {
    const names = new Map<string, string>();
    const ids: string[] = [];
    for (const table of SHARD_ROUTED_TABLES) {
      const { rows } = await c.query<{ name: string; id: string }>(
        `select shard_name($1::regclass, s.id) as name, s.id::text as id
         from (select get_shard_id_for_distribution_column($1::regclass, $2::bigint) as id) s`,
        [table, learner],
      );
      names.set(table, rows[0]?.name ?? "");
      ids.push(rows[0]?.id ?? "");
    }
    const tables = Object.fromEntries(LEVEL_UP_TABLES.map((t) => [t, names.get(t) ?? ""])) as ShardNames["tables"];
    return {
      tables,
      sequences: await idSequences((text, values) => c.query<{ s: string }>(text, values)),
      claim: new ShardTables(names, ids).claimOn(undefined, {
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        userId: learner,
        noWait: false,
      }),
    };
  });
}

function runPgbench(pgbench: string, script: string, protocol: string, url: string, learner: number): Promise<void> {
  const args = [
    "--no-vacuum",
    `--protocol=${protocol}`,
    "--client=1",
    `--transactions=${transactions}`,
    `--file=${script}`,
    `--define=first=${learner}`,
    `--define=last=${learner}`,
    `--define=xpmin=${XP.min}`,
    `--define=xpmax=${XP.max}`,
    url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(pgbench, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      const failed = /number of failed transactions: (\d+)/.exec(output)?.[1];
      if (code === 0 && (failed === undefined || failed === "0")) resolve();
      else reject(new Error(`pgbench ${protocol} ${script} failed (${code}): ${output.slice(-1500)}`));
    });
  });
}

function stamp(): string {
  return new Date().toISOString().replace(/[:.]/g, "-");
}
