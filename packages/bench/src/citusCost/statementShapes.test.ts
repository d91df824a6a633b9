import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
// Brings in the ProvidedContext keys the global setup provides (for `inject` types).
import type {} from "@coupler/testing/globalSetup";
import { useTestDatabase } from "@coupler/testing/vitest";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findExecutable } from "../findExecutable.ts";
import { seedLearners } from "../seedLearners.ts";
import { statementCostRows, type StatementCostResults } from "./renderStatementCost.ts";
import {
  LEVEL_UP_TABLES,
  SHAPE_PROTOCOL,
  idSequences,
  shapeScript,
  type ShardNames,
  type StatementShape,
} from "./statementShapes.ts";

const pgbench = findExecutable("pgbench", process.env.PGBENCH_BIN, process.env.PATH ?? "");
if (!pgbench) console.warn("statementShapes.test: pgbench is not on PATH (nor PGBENCH_BIN); the shapes' runs skip");

const database = await useTestDatabase({ max: 2 });
const pool = new pg.Pool({ connectionString: database.url, max: 1 });
let workDir = "";
afterAll(async () => {
  await pool.end();
  await database.drop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** The learner's columns, by table: its rows in a copy are the learner's rows of the table. */
const LEARNER_COLUMN = {
  specialization_progress: "student_id",
  user_licenses: "user_id",
  license_progressions: "user_id",
  coupler_audit_log: "user_id",
} as const;

/**
 * Stand-ins for a learner's shards on a plain server: each table's copy
 * with its columns, defaults, checks and indexes but not its identity (a
 * Citus shard table has no default for `id` either), holding the learner's
 * rows. Foreign keys and triggers are left out: the test compares the rows.
 */
async function shardCopies(learner: number): Promise<ShardNames> {
  const tables = {} as ShardNames["tables"];
  for (const table of LEVEL_UP_TABLES) {
    const copy = `${table}_900001`;
    await pool.query(`create table ${copy} (like ${table} including defaults including constraints including indexes)`);
    await pool.query(`insert into ${copy} select * from ${table} where ${LEARNER_COLUMN[table]} = $1`, [learner]);
    tables[table] = copy;
  }
  // No Citus here to claim the shards with: the claim is Citus's (routing.test.ts checks it on a cluster).
  return { tables, sequences: await idSequences((text, values) => pool.query<{ s: string }>(text, values)), claim: [] };
}

/** 300 level-ups of 40 XP for `learner` in `shape`, through pgbench on one connection. */
async function levelUps(shape: StatementShape, learner: number, shards?: ShardNames): Promise<void> {
  const script = join(workDir, `${shape}.sql`);
  await writeFile(script, shapeScript(shape, 2000, shards));
  const run = spawnSync(
    pgbench ?? "pgbench",
    [
      "--no-vacuum",
      `--protocol=${SHAPE_PROTOCOL[shape]}`,
      "--client=1",
      "--transactions=300",
      `--file=${script}`,
      `--define=first=${learner}`,
      `--define=last=${learner}`,
      "--define=xpmin=40",
      "--define=xpmax=40",
      database.url,
    ],
    { encoding: "utf8" },
  );
  expect(run.status, run.stderr).toBe(0);
  expect(run.stdout).toMatch(/number of transactions actually processed: 300\/300/);
}

/** What a learner's level-ups left, without ids and times; `tables` names where to read (shard copies or the tables). */
async function leftBy(learner: number, tables: Record<(typeof LEVEL_UP_TABLES)[number], string>) {
  const rows = async (text: string) => (await pool.query(text, [learner])).rows;
  return {
    progress: await rows(
      `select current_level, total_xp, completed_sessions from ${tables.specialization_progress} where student_id = $1`,
    ),
    license: await rows(`select current_level, max_achieved_level from ${tables.user_licenses} where user_id = $1`),
    history: await rows(
      `select from_level, to_level, reason, actor from ${tables.license_progressions} where user_id = $1 order by id`,
    ),
    audit: await rows(
      `select operation, xp_delta, sessions_delta, from_level, to_level, outcome from ${tables.coupler_audit_log} where user_id = $1 order by id`,
    ),
  };
}

const tablesThemselves = Object.fromEntries(LEVEL_UP_TABLES.map((t) => [t, t])) as Record<
  (typeof LEVEL_UP_TABLES)[number],
  string
>;

describe.skipIf(!pgbench)("citus:statement-cost's shapes of a level-up", () => {
  let first = 0;
  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), "statement-shapes-"));
    first = (await seedLearners(pool, 3, "statement-shapes")).first;
  });

  it("leave the same progress, license, history and audit rows: the coupler's statements, fast-path queries, and the coupler's statements on shard tables", async () => {
    const [viaCoupler, viaFastPath, viaShards] = [first, first + 1, first + 2];
    await levelUps("coupler", viaCoupler);
    await levelUps("fast-path", viaFastPath);
    const shards = await shardCopies(viaShards);
    await levelUps("shard-tables", viaShards, shards);

    const expected = await leftBy(viaCoupler, tablesThemselves);
    // 300 × 40 XP climbs every level of the PLAYER curve: history rows, and the guard's level-moving shape.
    expect(expected.progress).toEqual([{ current_level: 10, total_xp: "12000", completed_sessions: 300 }]);
    expect(expected.history).toHaveLength(9);
    expect(expected.audit).toHaveLength(300);
    expect(await leftBy(viaFastPath, tablesThemselves)).toEqual(expected);
    expect(await leftBy(viaShards, shards.tables)).toEqual(expected);
    // The copies' rows took their ids from the tables' sequences, in order.
    const { rows } = await pool.query<{ ascending: boolean }>(
      `select bool_and(id > prev) as ascending from (select id, lag(id, 1, 0::bigint) over (order by ctid) as prev from ${shards.tables.coupler_audit_log}) s`,
    );
    expect(rows[0]?.ascending).toBe(true);
    // Nothing of the shard-table learner was written to the tables themselves.
    expect((await leftBy(viaShards, tablesThemselves)).audit).toEqual([]);
  });
});

describe("citus:statement-cost's report", () => {
  it("gives each shape's median over the rounds and its ratio to the plain server's coupler statements", () => {
    const run = (round: number, shape: StatementShape, node: "plain" | "worker", nodeCpuUs: number) => ({
      round,
      shape,
      node,
      nodeCpuUs,
      coordinatorCpuUs: node === "worker" ? 2 : null,
    });
    const results = {
      runs: [
        run(1, "coupler", "plain", 300),
        run(2, "coupler", "plain", 280),
        run(3, "coupler", "plain", 500),
        run(1, "coupler", "worker", 1500),
        run(2, "coupler", "worker", 1200),
        run(3, "coupler", "worker", 1400),
        run(1, "shard-tables", "worker", 450),
      ],
    } as StatementCostResults;
    const rows = statementCostRows(results);
    expect(rows.map((r) => [r.node, r.cpuUs, Number(r.ratio.toFixed(2)), r.coordinatorUs])).toEqual([
      ["plain PostgreSQL", 300, 1, null],
      ["Citus worker (the learner's shard)", 1400, 4.67, 2],
      ["Citus worker (the learner's shard)", 450, 1.5, 2],
    ]);
  });
});
