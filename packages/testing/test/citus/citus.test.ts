import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CITUS_LAYOUT,
  LEARNER_IDS_SETTING,
  LEARNER_ID_ORDER,
  couplerOnCitus,
  createDatabase,
  createUser,
  distributeOnCitus,
  migrate,
  purgeExpiredIdempotencyKeys,
  runIntegrityAudit,
  setGuard,
  type Database,
  type ProgressLicenseCoupler,
} from "@coupler/core";
import {
  citusAvailability,
  createCoupler,
  enrolledUser,
  enrolledUsers,
  explainRouting,
  pairRows,
  recordStatements,
  startCitusCluster,
  waitForLockWaiters,
  whilePairLocked,
  withSession,
  type CitusCluster,
  type CitusDatabase,
  type SentStatement,
  type StatementRouting,
} from "../../src/index.ts";
import { expectCouplerError } from "../../src/vitest.ts";

/**
 * Coupler on a real Citus cluster: a coordinator and two workers this file
 * starts from the installed PostgreSQL (or the cluster at CITUS_URL). Skips,
 * saying why, where Citus cannot be had (CI has none).
 */
const availability = citusAvailability();
if (!availability.available) console.log(`Citus suite skipped: ${availability.reason}`);

const CLI = fileURLToPath(new URL("../../../core/src/cli/migrate.ts", import.meta.url));
const run = promisify(execFile);
const migrateCli = (url: string) =>
  run(process.execPath, ["--import", "tsx", CLI, "--citus"], {
    env: { ...process.env, DATABASE_URL: url },
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
  });

describe.skipIf(!availability.available)("Coupler on Citus (coordinator + 2 workers)", () => {
  let cluster: CitusCluster;
  let citus: CitusDatabase;
  let database: Database & { url: string };
  let coupler: ProgressLicenseCoupler;

  beforeAll(async () => {
    cluster = await startCitusCluster({ workers: 2 });
    citus = await cluster.createDatabase();
    await migrate(citus.url);
    await distributeOnCitus(citus.url);
    database = { ...createDatabase({ connectionString: citus.url, max: 10 }), url: citus.url };
    coupler = createCoupler(database, { citus: await couplerOnCitus(database.pool) });
  }, 240_000);
  afterAll(async () => {
    await database?.close();
    await citus?.drop();
    await cluster?.stop();
  }, 120_000);

  /** `host:port` of the worker holding `userId`'s shards. */
  const workerOf = async (userId: number) => {
    const { rows } = await database.pool.query<{ node: string }>(
      "select nodename || ':' || nodeport as node from citus_shards where shardid = get_shard_id_for_distribution_column('users', $1::bigint)",
      [userId],
    );
    return rows[0]?.node;
  };

  it("places every table: per-learner tables by the learner's id co-located with users, user_emails by email, the catalogue and guard switch as reference tables", async () => {
    const { rows } = await database.pool.query<{
      table: string;
      type: string;
      column: string | null;
      colocated: boolean;
    }>(
      `select table_name::text as table, citus_table_type as type, distribution_column as column,
              colocation_id = (select colocation_id from citus_tables where table_name = 'users'::regclass) as colocated
       from citus_tables order by 1`,
    );
    const expected = [
      ...CITUS_LAYOUT.distributed.map(([table, column]) => ({ table, type: "distributed", column, colocated: true })),
      { table: CITUS_LAYOUT.byEmail[0], type: "distributed", column: CITUS_LAYOUT.byEmail[1], colocated: false },
      ...CITUS_LAYOUT.reference.map((table) => ({ table, type: "reference", column: "<none>", colocated: false })),
    ].sort((a, b) => a.table.localeCompare(b.table));
    expect(rows).toEqual(expected);
  });

  it("a second distributeOnCitus changes nothing: no table, shard or foreign key moves", async () => {
    const state = async () =>
      (
        await database.pool.query(
          `select (select json_agg(p order by logicalrelid) from pg_dist_partition p) as partitions,
                  (select json_agg(s order by shardid) from pg_dist_shard s) as shards,
                  (select json_agg(conname order by conname) from pg_constraint where contype = 'f' and connamespace = 'public'::regnamespace) as keys`,
        )
      ).rows[0];
    const before = await state();
    expect(await distributeOnCitus(citus.url)).toMatchObject({
      reference: [],
      distributed: [],
      foreignKeys: [],
      settings: [],
      triggers: [],
    });
    expect(await state()).toEqual(before);
  });

  it("distributeOnCitus replaces a learner-id-order trigger installed without its WHEN clause, on every shard, and then leaves it alone", async () => {
    // The trigger's definition on each shard of the two id-ordered tables, on every worker: with the WHEN clause or not.
    const shardTriggers = async () => {
      const found = { current: 0, old: 0 };
      for (const url of citus.workerUrls) {
        const worker = new pg.Client({ connectionString: url });
        await worker.connect();
        try {
          const { rows } = await worker.query<{ current: boolean; n: number }>(
            `select pg_get_triggerdef(t.oid) like '%' || $2 || '%' as current, count(*)::int as n
             from pg_trigger t where t.tgname like $1 || '_%' group by 1`,
            [LEARNER_ID_ORDER, LEARNER_IDS_SETTING],
          );
          for (const row of rows) found[row.current ? "current" : "old"] += row.n;
        } finally {
          await worker.end();
        }
      }
      return found;
    };
    const shards = Number(
      (
        await database.pool.query<{ n: string }>(
          "select count(*) as n from pg_dist_shard where logicalrelid in ('license_progressions'::regclass, 'coupler_audit_log'::regclass)",
        )
      ).rows[0]?.n,
    );
    expect(await shardTriggers()).toEqual({ current: shards, old: 0 });
    const admin = await database.pool.connect();
    try {
      await admin.query("begin");
      await admin.query("set local citus.enable_unsafe_triggers = on");
      await admin.query("set local citus.multi_shard_modify_mode = 'sequential'");
      for (const table of ["license_progressions", "coupler_audit_log"]) {
        await admin.query(`drop trigger ${LEARNER_ID_ORDER} on ${table}`);
        await admin.query(
          `create trigger ${LEARNER_ID_ORDER} before insert on ${table} for each row execute function ${LEARNER_ID_ORDER}()`,
        );
      }
      await admin.query("commit");
    } finally {
      admin.release();
    }
    expect(await shardTriggers()).toEqual({ current: 0, old: shards });
    expect((await distributeOnCitus(citus.url)).triggers).toEqual([
      `${LEARNER_ID_ORDER} on license_progressions`,
      `${LEARNER_ID_ORDER} on coupler_audit_log`,
    ]);
    expect(await shardTriggers()).toEqual({ current: shards, old: 0 });
    expect((await distributeOnCitus(citus.url)).triggers).toEqual([]);
  });

  it("pnpm db:migrate --citus distributes a database that already holds learners, and the second run changes nothing", async () => {
    const other = await cluster.createDatabase();
    try {
      await migrate(other.url);
      const local = createDatabase({ connectionString: other.url, max: 2 });
      const localCoupler = createCoupler(local);
      const ids = await enrolledUsers(local, localCoupler, 5);
      for (const id of ids)
        await localCoupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 250, sessionsCompleted: 1 });
      await local.close();

      const first = await migrateCli(other.url);
      expect(first.stdout).toMatch(/citus: placed .*users \(distributed\)/);
      const second = await migrateCli(other.url);
      expect(second.stdout).toContain("citus: every table already placed; nothing changed");

      const after = createDatabase({ connectionString: other.url, max: 2 });
      try {
        const { rows } = await after.pool.query<{ n: string; on_shards: string }>(
          `select (select count(*) from specialization_progress where total_xp = 250) as n,
                  (select sum(result::bigint) from run_command_on_shards('specialization_progress', 'select count(*) from %s')) as on_shards`,
        );
        expect(rows[0]).toEqual({ n: "5", on_shards: "5" });
        expect((await runIntegrityAudit(after.pool)).violations).toBe(0);
      } finally {
        await after.close();
      }
    } finally {
      await other.drop();
    }
  }, 120_000);

  /**
   * Asserts that every statement of `statements` (transaction control aside)
   * and every subplan of it is one task on `worker`, as the coordinator's
   * EXPLAIN says; returns a line describing the routing.
   */
  const expectOnWorker = async (name: string, statements: SentStatement[], worker: string | undefined) => {
    const routing: StatementRouting[] = await explainRouting(citus.url, statements);
    expect(routing.length).toBeGreaterThan(0);
    for (const r of routing) {
      // Every task of the statement and of its subplans: one task each, on the learner's worker.
      expect(r.taskCounts.length, `${name}: ${r.statement}\n${r.plan}`).toBeGreaterThan(0);
      expect(
        r.taskCounts.every((n) => n === 1),
        `${name}: ${r.statement}\n${r.plan}`,
      ).toBe(true);
      expect(new Set(r.nodes), `${name}: ${r.statement}\n${r.plan}`).toEqual(new Set([worker]));
    }
    return routing
      .map(
        (r) =>
          `${r.statement.slice(0, 40)}… → ${r.taskCounts.length} task(s) on ${[...new Set(r.nodes)].join(",")}${r.subplans ? ` (${r.subplans} subplans)` : ""}`,
      )
      .join("; ");
  };

  it("every coupled call routes to the one worker holding the learner's shards, in the round trips SCALING.md states (a level-up four, a read one)", async () => {
    await coupler.catalogue.get("PLAYER"); // the catalogue is cached after its first read
    const created = await createUser(database.pool, { name: "Routed", email: `routed-${Date.now()}@example.test` });
    const learner = created.id;
    const worker = await workerOf(learner);
    const key = `routing-${Date.now()}`;
    const operations: [string, () => Promise<unknown>][] = [
      ["enroll", () => coupler.enroll({ userId: learner, specialization: "PLAYER" })],
      [
        "levelUp",
        () =>
          coupler.levelUp({
            userId: learner,
            specialization: "PLAYER",
            xpGained: 350,
            sessionsCompleted: 2,
            idempotencyKey: key,
          }),
      ],
      [
        "levelUp replayed",
        () =>
          coupler.levelUp({
            userId: learner,
            specialization: "PLAYER",
            xpGained: 350,
            sessionsCompleted: 2,
            idempotencyKey: key,
          }),
      ],
      ["advance", () => coupler.advance({ userId: learner, specialization: "PLAYER", newLevel: 5, reason: "routing" })],
      ["sync", () => coupler.sync({ userId: learner, specialization: "PLAYER", source: "progress" })],
      ["validate", () => coupler.validate({ userId: learner, specialization: "PLAYER" })],
      ["get", () => coupler.get({ userId: learner, specialization: "PLAYER" })],
      ["history", () => coupler.history({ userId: learner, specialization: "PLAYER" })],
    ];
    // SCALING.md's table "Every coupled call on one worker" states these.
    const roundTrips: Record<string, number> = {
      enroll: 7,
      levelUp: 4,
      "levelUp replayed": 3,
      advance: 4,
      sync: 4,
      validate: 1,
      get: 1,
      history: 1,
    };
    const report: string[] = [];
    for (const [name, operation] of operations) {
      const { statements } = await recordStatements(operation);
      expect({ name, roundTrips: statements.length }).toEqual({ name, roundTrips: roundTrips[name] });
      report.push(`${name}: ${statements.length} round trips; ${await expectOnWorker(name, statements, worker)}`);
    }
    console.log(`routing on Citus (learner ${learner} on ${worker}):\n${report.join("\n")}`);
    expect(await pairRows(database, learner)).toMatchObject({ progressLevel: 5, licenseLevel: 5 });
  });

  it("a combined batch (level-ups with two idempotency keys, an advance, a call without a key) routes to the learner's one worker in one transaction of four round trips", async () => {
    expect(await couplerOnCitus(database.pool)).toBe(true); // the coupler was built with the citus option it gives
    // Write combining on, whatever COUPLER_WRITE_COMBINING the suite runs under: the batch is the subject.
    const combined = createCoupler(database, { citus: true, combining: { enabled: true } });
    const learner = await enrolledUser(database, combined);
    const worker = await workerOf(learner);
    const pair = { userId: learner, specialization: "PLAYER" };
    const { lone, recording } = await whilePairLocked(database, learner, async () => {
      const lone = combined.levelUp({ ...pair, xpGained: 10, sessionsCompleted: 1 });
      await waitForLockWaiters(citus);
      // Queued behind the first call's transaction, these four run together in the next one.
      const recording = recordStatements(() =>
        Promise.all([
          combined.levelUp({ ...pair, xpGained: 400, sessionsCompleted: 1, idempotencyKey: "batch-key-a" }),
          combined.levelUp({ ...pair, xpGained: 20, sessionsCompleted: 1, idempotencyKey: "batch-key-b" }),
          combined.advance({ ...pair, newLevel: 6, reason: "combined on citus" }),
          combined.levelUp({ ...pair, xpGained: 30, sessionsCompleted: 0 }),
        ]),
      );
      return { lone, recording }; // not awaited here: the calls finish once the holder lets go
    });
    const { result, statements } = await recording;
    expect((await lone).totalXp).toBe(10);
    expect(result).toMatchObject([
      { totalXp: 410, leveledUp: true },
      { totalXp: 430 },
      { newLevel: 6 },
      { totalXp: 460 },
    ]);

    // The batch's own transaction: BEGIN (+ SET LOCAL), the lock statement, the write statement, COMMIT.
    const begins = statements.filter((s) => /^\s*begin\b/i.test(s.text));
    expect(begins).toHaveLength(1);
    const batch = statements.slice(statements.findIndex((s) => /^\s*begin\b/i.test(s.text)));
    expect(batch).toHaveLength(4);
    const [, lock, write] = batch;
    expect(lock?.values).toContainEqual(["batch-key-a", "batch-key-b"]);
    expect(write?.text).toMatch(/insert into "coupler_audit_log"[^]*values \([^]*\), \([^]*\), \([^]*\), \(/);
    const line = await expectOnWorker("combined batch", statements, worker);
    console.log(`combined batch on Citus (learner ${learner} on ${worker}): ${batch.length} round trips; ${line}`);
    expect(await pairRows(database, learner)).toMatchObject({ progressLevel: 6, licenseLevel: 6, totalXp: 460 });
    const { rows } = await database.pool.query<{ keys: string; audit: string }>(
      `select (select count(*) from idempotency_keys where user_id = $1) as keys, (select count(*) from coupler_audit_log where user_id = $1) as audit`,
      [learner],
    );
    expect(rows[0]).toEqual({ keys: "2", audit: "6" }); // enroll, the first call, the batch's four
  });

  it("no learner's rows span workers: each learner's shards of every per-learner table are on one node", async () => {
    const ids = await enrolledUsers(database, coupler, 8);
    for (const id of ids)
      await coupler.levelUp({
        userId: id,
        specialization: "PLAYER",
        xpGained: 150,
        sessionsCompleted: 1,
        idempotencyKey: `span-${id}-key`,
      });
    const tables = CITUS_LAYOUT.distributed.map(([t]) => t);
    const { rows } = await database.pool.query<{ id: string; nodes: string }>(
      `select u.id, count(distinct (s.nodename, s.nodeport)) as nodes
       from unnest($1::bigint[]) u(id) cross join unnest($2::text[]) t(name)
       join citus_shards s on s.shardid = get_shard_id_for_distribution_column(t.name::regclass, u.id)
       group by u.id`,
      [ids, tables],
    );
    expect(rows.map((r) => Number(r.nodes))).toEqual(ids.map(() => 1));
    const workers = new Set(await Promise.all(ids.map(workerOf)));
    expect(workers.size).toBe(2); // 8 learners over 2 workers: both hold some
  });

  it("a lock wait on the worker is bounded by the coupler's lock timeout: SET LOCAL reaches the worker", async () => {
    const id = await enrolledUser(database, coupler);
    const impatient = createCoupler(database, { lockTimeoutMs: 300 });
    const error = await whilePairLocked(database, id, () =>
      expectCouplerError(
        impatient.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 0 }),
        "LOCK_TIMEOUT",
      ),
    );
    expect(error.message).toContain("300 ms");
    expect(await pairRows(database, id)).toMatchObject({ totalXp: 0 });
  });

  it("the coupling guard fires on the shards: a raw desync is refused at COMMIT, the coupler's writes pass", async () => {
    const id = await enrolledUser(database, coupler);
    await setGuard(database.pool, true, "citus-test");
    try {
      await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
      const warnings: string[] = [];
      await withSession(database, async (session) => {
        session.client.on("notice", (n) => warnings.push(n.message ?? ""));
        await session.query("begin");
        await session.query("update specialization_progress set current_level = 1 where student_id = $1", [id]);
        // On Citus the deferred trigger's error arrives as a WARNING from the worker, and COMMIT fails.
        await expect(session.query("commit")).rejects.toThrow(/could not commit transaction/);
      });
      expect(warnings.some((w) => w.includes("coupling guard"))).toBe(true);
      expect(await pairRows(database, id)).toMatchObject({ progressLevel: 3, licenseLevel: 3 });
    } finally {
      await setGuard(database.pool, false, "citus-test");
    }
  });

  it("the guard's reads are planned afresh on every worker, so a worker connection's memory stays flat over hundreds of level changes", async () => {
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    const { rows: placement } = await database.pool.query<{ port: number }>(
      `select n.nodeport as port from pg_dist_placement p join pg_dist_node n using (groupid)
       where p.shardid = get_shard_id_for_distribution_column('specialization_progress', $1::bigint)`,
      [id],
    );
    const worker = citus.workerUrls.find((url) => new URL(url).port === String(placement[0]?.port));
    // Each worker has the setting: ALTER FUNCTION on the coordinator reached it.
    for (const url of citus.workerUrls) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client
        .query<{ config: string[] }>("select proconfig as config from pg_proc where proname = 'coupler_coupling_guard'")
        .finally(() => client.end());
      expect(rows[0]?.config).toContain("plan_cache_mode=force_custom_plan");
    }
    await setGuard(database.pool, true, "citus-test");
    // One session on the learner's worker, moving both levels in each transaction: the guard runs twice per COMMIT.
    const session = new pg.Client({ connectionString: worker });
    await session.connect();
    try {
      const cachedPlans = async () =>
        Number(
          (
            await session.query<{ bytes: string }>(
              "select coalesce(sum(total_bytes), 0) as bytes from pg_backend_memory_contexts where name = 'CachedPlan'",
            )
          ).rows[0]?.bytes,
        );
      const levelChanges = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const level = 2 + (i % 2);
          await session.query(
            `begin; update specialization_progress set current_level = ${level} where student_id = ${id};
             update user_licenses set current_level = ${level}, max_achieved_level = 3 where user_id = ${id}; commit`,
          );
        }
      };
      await levelChanges(20); // past the five custom plans PostgreSQL makes before it tries a generic one
      const before = await cachedPlans();
      await levelChanges(500);
      // With generic plans Citus 13.2 kept a local plan per call: about 60 MB here (120 kB per level change).
      expect((await cachedPlans()) - before).toBeLessThan(2 * 1024 * 1024);
      expect(await pairRows(database, id)).toMatchObject({ progressLevel: 3, licenseLevel: 3 });
    } finally {
      await session.end();
      // The raw level changes wrote no history: sync mends the chain, so the suite's later audit finds nothing.
      await coupler.sync({ userId: id, specialization: "PLAYER", source: "progress" });
      await setGuard(database.pool, false, "citus-test");
    }
  });

  it("the audit log stays append-only on the shards: UPDATE, DELETE and TRUNCATE are refused", async () => {
    const id = await enrolledUser(database, coupler);
    await expect(
      database.pool.query("update coupler_audit_log set actor = 'x' where user_id = $1", [id]),
    ).rejects.toThrow(/append-only/);
    await expect(database.pool.query("delete from coupler_audit_log where user_id = $1", [id])).rejects.toThrow(
      /append-only/,
    );
    await expect(database.pool.query("truncate coupler_audit_log")).rejects.toThrow(/append-only/);
  });

  it("an email is taken once across shards: of two concurrent sign-ups with it, one gets CONFLICT and leaves no row", async () => {
    const email = `twin-${Date.now()}@example.test`;
    const results = await Promise.allSettled([
      createUser(database.pool, { name: "A", email }),
      createUser(database.pool, { name: "B", email }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const rejected = results.find((r) => r.status === "rejected");
    await expectCouplerError(Promise.reject(rejected?.reason), "CONFLICT");
    const { rows } = await database.pool.query<{ users: string; emails: string }>(
      "select (select count(*) from users where email = $1) as users, (select count(*) from user_emails where email = $1) as emails",
      [email],
    );
    expect(rows[0]).toEqual({ users: "1", emails: "1" });
  });

  it("the purge deletes expired keys shard by shard and skips a key a transaction holds", async () => {
    const ids = await enrolledUsers(database, coupler, 6);
    const keys = ids.map((id) => `purge-${id}-key`);
    for (const [i, id] of ids.entries())
      await coupler.levelUp({
        userId: id,
        specialization: "PLAYER",
        xpGained: 10,
        sessionsCompleted: 0,
        idempotencyKey: keys[i],
      });
    await database.pool.query(
      "update idempotency_keys set created_at = now() - interval '3 days' where key = any($1)",
      [keys],
    );
    const [heldId = 0] = ids;
    const purged = await withSession(database, async (session) => {
      await session.query("begin");
      await session.query("select 1 from idempotency_keys where user_id = $1 and key = $2 for update", [
        heldId,
        keys[0],
      ]);
      try {
        return await purgeExpiredIdempotencyKeys(database.pool, { batchSize: 2 });
      } finally {
        await session.query("rollback");
      }
    });
    expect(purged).toBe(5);
    const { rows } = await database.pool.query<{ key: string }>(
      "select key from idempotency_keys where key = any($1)",
      [keys],
    );
    expect(rows.map((r) => r.key)).toEqual([keys[0]]);
    expect(await purgeExpiredIdempotencyKeys(database.pool)).toBeGreaterThanOrEqual(1);
  });

  it("the integrity audit runs across all shards: it finds a desync planted with the guard off, and sync repairs it", async () => {
    const id = await enrolledUser(database, coupler);
    expect((await runIntegrityAudit(database.pool)).violations).toBe(0);
    await database.pool.query("update specialization_progress set current_level = 2 where student_id = $1", [id]);
    const report = await runIntegrityAudit(database.pool);
    expect(report.desynced.samples).toContainEqual(expect.objectContaining({ userId: id, specialization: "PLAYER" }));
    await coupler.sync({ userId: id, specialization: "PLAYER", source: "license" });
    expect((await runIntegrityAudit(database.pool)).violations).toBe(0);
  });
});
