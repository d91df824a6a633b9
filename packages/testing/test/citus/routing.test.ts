import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CitusRouter,
  LEARNER_ID_ORDER,
  createDatabase,
  distributeOnCitus,
  hashInt8,
  migrate,
  readWorkerMap,
  type Database,
  type CouplerOptions,
  type ProgressLicenseCoupler,
  type RouteMissEvent,
} from "@coupler/core";
import {
  auditRows,
  citusAvailability,
  createCoupler,
  enrolledUsers,
  hashSample,
  logCitusCommands,
  pairRows,
  recordStatements,
  startCitusCluster,
  waitForLockWaiters,
  whilePairLocked,
  type CitusCluster,
  type CitusDatabase,
} from "../../src/index.ts";
import { expectCouplerError } from "../../src/vitest.ts";
import { freePort } from "@coupler/embedded";

/**
 * Direct routing on a real Citus cluster (a coordinator and two workers this
 * file starts, or CITUS_URL): the shard computed in process, the worker map
 * from the catalog, each learner's calls on its worker's pool with no remote
 * command, and the `coordinator` setting beside it. Skips, saying why, where
 * Citus cannot be had (CI has none).
 */
const availability = citusAvailability();
if (!availability.available) console.log(`Citus routing suite skipped: ${availability.reason}`);

describe.skipIf(!availability.available)("direct routing on Citus (coordinator + 2 workers)", () => {
  let cluster: CitusCluster;
  let citus: CitusDatabase;
  let database: Database & { url: string; name: string };
  let router: CitusRouter;
  let learners: number[];
  const misses: RouteMissEvent[] = [];
  let mapChanges = 0;

  beforeAll(async () => {
    cluster = await startCitusCluster({ workers: 2 });
    citus = await cluster.createDatabase();
    await migrate(citus.url);
    await distributeOnCitus(citus.url);
    database = { ...createDatabase({ connectionString: citus.url, max: 10 }), url: citus.url, name: citus.name };
    const coordinatorCoupler = createCoupler(database, { citus: true });
    learners = await enrolledUsers(database, coordinatorCoupler, 40);
    router = await CitusRouter.start({
      coordinator: database.pool,
      connectionString: citus.url,
      refreshIntervalMs: 0,
      observer: { onRouteMiss: (e) => misses.push(e), onWorkerMapChange: () => mapChanges++ },
    });
  }, 240_000);
  afterAll(async () => {
    await router?.close();
    await database?.close();
    await citus?.drop();
    await cluster?.stop();
  }, 120_000);

  /** A coupler whose every call runs on `pool`. */
  const couplerOn = (pool: Database["pool"]): ProgressLicenseCoupler =>
    createCoupler({ pool, db: database.db, close: async () => {} }, { citus: true });
  /** A coupler whose calls take their connections from `source` (a router), the coordinator's pool for the rest. */
  const couplerVia = (source: CitusRouter, options: Partial<CouplerOptions> = {}): ProgressLicenseCoupler =>
    createCoupler(database, { citus: true, connections: source, ...options });

  /** The group of the node `pool` connects to, as that node says. */
  const localGroup = async (pool: Database["pool"]) =>
    (await pool.query<{ g: number }>("select groupid as g from pg_dist_local_group")).rows[0]?.g;

  /**
   * The backend that ran the learner's row lock, and the connection's own
   * backend: equal under local execution, different when the node forwarded
   * the task (how a route miss shows, with no extra round trip).
   */
  const lockBackend = async (pool: Database["pool"], userId: number) => {
    const client = await pool.connect();
    try {
      await client.query("begin");
      const { rows } = await client.query<{ pid: number }>(
        "select pg_backend_pid() as pid from specialization_progress where student_id = $1 for update",
        [userId],
      );
      await client.query("rollback");
      return { task: rows[0]?.pid, connection: (client as unknown as { processID: number }).processID };
    } finally {
      client.release();
    }
  };

  /** The node (`host:port`) holding `userId`'s shard, as the coordinator says. */
  const nodeOf = async (userId: number) =>
    (
      await database.pool.query<{ node: string }>(
        "select nodename || ':' || nodeport as node from citus_shards where shardid = get_shard_id_for_distribution_column('users', $1::bigint) and table_name = 'users'::regclass",
        [userId],
      )
    ).rows[0]?.node;

  it("computes every learner's shard in process exactly as get_shard_id_for_distribution_column does, over more than 100,000 ids", async () => {
    const map = await readWorkerMap(database.pool);
    const sample = hashSample(map.shards, { random: 100_000, candidates: 400_000, perBoundary: 5 });
    const { rows } = await database.pool.query<{ shard: string }>(
      "select get_shard_id_for_distribution_column('users', v)::text as shard from unnest($1::int8[]) with ordinality as t(v, n) order by n",
      [sample.ids],
    );
    const inProcess = sample.ids.map((id) => map.locate(BigInt(id))?.shard.shardId);
    const mismatches = sample.ids.filter((_, i) => inProcess[i] !== rows[i]?.shard);
    console.log(
      `shard hash differential: ${sample.ids.length} ids (${sample.counts.fixed} around 0, ±2^31, ±2^32, ±2^48, ±2^53, int8's ends and worker sequence starts; ` +
        `${sample.counts.random} seeded random; ${sample.counts.boundary} whose hashes land nearest the ${map.shards.length * 2} range ends ` +
        `out of 400,000 candidates, farthest ${sample.widestGap} from its end), ${mismatches.length} mismatches`,
    );
    expect(sample.ids.length).toBeGreaterThan(100_000);
    expect(mismatches).toEqual([]);
    // Safe integers hash alike as numbers (the router's path) and as bigints.
    const safe = sample.ids.filter((id) => Number.isSafeInteger(Number(id))).slice(0, 10_000);
    expect(safe.map((id) => hashInt8(Number(id)))).toEqual(safe.map((id) => hashInt8(BigInt(id))));
  });

  it("reads the worker map from Citus's catalog: every shard of users with the active primary holding it, both workers synced", async () => {
    const map = await readWorkerMap(database.pool);
    const { rows } = await database.pool.query<{ shard: string; node: string }>(
      "select shardid::text as shard, nodename || ':' || nodeport as node from citus_shards where table_name = 'users'::regclass order by shardid",
    );
    const fromMap = map.shards.map((s) => {
      const node = map.nodes.get(s.groupId);
      return { shard: s.shardId, node: node && `${node.host}:${node.port}` };
    });
    expect(fromMap.sort((a, b) => a.shard.localeCompare(b.shard))).toEqual(rows);
    expect(new Set(rows.map((r) => r.node))).toEqual(new Set(cluster.workers.map((w) => `${w.host}:${w.port}`)));
    expect(map.allSynced).toBe(true);
  });

  it("direct: each learner's pool connects to the worker holding its shard, and both workers serve some", async () => {
    const served = new Set<string>();
    for (const learner of learners) {
      const decision = router.decide(learner);
      expect(decision).toMatchObject({ route: "direct", node: await nodeOf(learner) });
      const group = router.workerMap?.locate(learner)?.shard.groupId;
      expect(await localGroup(router.poolFor(learner))).toBe(group);
      served.add(decision.node ?? "");
    }
    expect(served.size).toBe(2);
  });

  it("direct: a level-up and a combined batch on the owning worker claim the learner's shards in BEGIN's round trip and name them, with zero remote commands, in four round trips each", async () => {
    const [learner = 0] = learners;
    // A router of its own, so the worker pool's first connection already logs.
    const own = await CitusRouter.start({
      coordinator: database.pool,
      connectionString: citus.url,
      refreshIntervalMs: 0,
    });
    const pool = own.poolFor(learner);
    const log = logCitusCommands(pool);
    // Write combining on, whatever COUPLER_WRITE_COMBINING the suite runs under: the combined batch is a subject.
    const coupler = couplerVia(own, { combining: { enabled: true } });
    await coupler.catalogue.get("PLAYER"); // cached after its first read, as in a running server
    await pool.query("select 1"); // the pool's first connection (and its logging SET) before the recording
    const pair = { userId: learner, specialization: "PLAYER" };
    const { statements } = await recordStatements(() =>
      coupler.levelUp({ ...pair, xpGained: 120, sessionsCompleted: 1 }),
    );
    expect(statements).toHaveLength(4);
    // The claim: Citus's shard metadata lock, then the placement check (generic plans when placed here), after BEGIN
    // in its round trip, as the statements the worker pool prepared on connect.
    const ids = `'{${[...(own.shardTablesFor(learner)?.shardIds ?? [])].join(",")}}'`;
    // No SET statement: Citus would replay the whole text on a node it forwards to (ShardTables.claimOn).
    const [opening, lock, placed, ...rest] = (statements[0]?.text ?? "").split("; ");
    expect(opening).toMatch(/^BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE$/);
    expect(lock).toMatch(/^EXECUTE coupler_claim_lock\('\{[\d,]+\}', '\d+', '\d+', 'false'\)$/);
    expect(lock).toContain(`(${ids}, '`);
    expect(placed).toBe(`EXECUTE coupler_claim_placed(${ids})`);
    expect(rest).toEqual([]);
    const prepared = await pool.query<{ name: string; statement: string }>(
      "select name, statement from pg_prepared_statements where name like 'coupler_claim_%' order by name",
    );
    expect(prepared.rows.map((r) => r.name)).toEqual(["coupler_claim_lock", "coupler_claim_placed"]);
    expect(prepared.rows[0]?.statement).toMatch(/SELECT lock_shard_metadata\(5, \$1::bigint\[\]\)/);
    expect(prepared.rows[1]?.statement).toMatch(
      /set_config\('plan_cache_mode', 'force_generic_plan', true\).*FROM pg_dist_placement/s,
    );
    // The lock and write statements name the learner's shards, not the distributed tables.
    const { rows } = await database.pool.query<{ shard: string }>(
      "select get_shard_id_for_distribution_column('specialization_progress', $1::bigint)::text as shard",
      [learner],
    );
    for (const statement of statements.slice(1, 3)) {
      expect(statement.text).toContain(`"specialization_progress_${rows[0]?.shard}"`);
      expect(statement.text).not.toMatch(/"(specialization_progress|user_licenses|coupler_audit_log)"/);
    }
    expect(log.local.length).toBeGreaterThan(0); // the log works: the guard's reads at COMMIT (a level change) are Citus's local tasks
    expect(log.remote).toEqual([]);
    const levelUpLocal = log.local.length;
    log.clear();
    // A level-up without a level change leaves the guard out: Citus plans and executes nothing at all.
    await coupler.levelUp({ ...pair, xpGained: 1, sessionsCompleted: 1 });
    expect(log.local).toEqual([]);
    expect(log.remote).toEqual([]);

    const { lone, batch } = await whilePairLocked(database, learner, async () => {
      const lone = coupler.levelUp({ ...pair, xpGained: 10, sessionsCompleted: 1 });
      await waitForLockWaiters(database);
      const batch = recordStatements(() =>
        Promise.all([
          coupler.levelUp({ ...pair, xpGained: 400, sessionsCompleted: 1, idempotencyKey: "direct-a" }),
          coupler.levelUp({ ...pair, xpGained: 20, sessionsCompleted: 1, idempotencyKey: "direct-b" }),
          coupler.advance({ ...pair, newLevel: 7, reason: "combined, direct" }),
        ]),
      );
      return { lone, batch };
    });
    await lone;
    const { result, statements: batchStatements } = await batch;
    expect(result).toMatchObject([{ totalXp: 531 }, { totalXp: 551 }, { newLevel: 7 }]);
    const begin = batchStatements.findIndex((s) => /^\s*begin\b/i.test(s.text));
    expect(batchStatements.slice(begin)).toHaveLength(4);
    expect(log.remote).toEqual([]);
    console.log(
      `direct on the owning worker: level-up 4 round trips, ${levelUpLocal} local tasks, 0 remote commands; ` +
        `combined batch 4 round trips, ${log.local.length} local tasks (lone call's included), 0 remote commands`,
    );
    expect(await pairRows(database, learner)).toMatchObject({ progressLevel: 7, licenseLevel: 7 });
    await own.close();
  });

  it("direct: on the owning worker the write statement orders the learner's history and audit ids itself, and the learner-id-order trigger is never called; through the coordinator it is", async () => {
    const learner = learners[5] ?? 0;
    const [, port] = ((await nodeOf(learner)) ?? "").split(":");
    const worker = new pg.Client({ connectionString: citus.workerUrls.find((url) => new URL(url).port === port) });
    await worker.connect();
    // Function call counts (pg_stat_user_functions) need track_functions; set for every backend of the worker.
    await worker.query("alter system set track_functions = 'pl'");
    await worker.query("select pg_reload_conf()");
    const calls = async () =>
      (
        await worker.query<{ n: number }>(
          "select coalesce(sum(calls), 0)::int as n from pg_stat_user_functions where funcname = $1",
          [LEARNER_ID_ORDER],
        )
      ).rows[0]?.n ?? 0;
    try {
      const before = await calls();
      const own = await CitusRouter.start({
        coordinator: database.pool,
        connectionString: citus.url,
        refreshIntervalMs: 0,
      });
      const pool = own.poolFor(learner);
      const pid = (await pool.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]?.pid;
      // Level changes: a history row and an audit row each, on the claimed shards.
      for (let i = 0; i < 3; i++)
        await couplerVia(own).levelUp({
          userId: learner,
          specialization: "PLAYER",
          xpGained: 300,
          sessionsCompleted: 1,
        });
      expect((await pool.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]?.pid).toBe(pid);
      await own.close();
      // A backend flushes its counts as it exits, before it leaves pg_stat_activity.
      await expect
        .poll(async () => (await worker.query("select 1 from pg_stat_activity where pid = $1", [pid])).rowCount)
        .toBe(0);
      expect(await calls()).toBe(before);
      expect((await auditRows(database, learner)).map((a) => a.operation)).toEqual([
        "enroll",
        "levelUp",
        "levelUp",
        "levelUp",
      ]);

      // Through the coordinator the same INSERTs reach the shard as Citus's, and the trigger orders them.
      await couplerOn(database.pool).levelUp({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 300,
        sessionsCompleted: 1,
      });
      await expect.poll(calls, { timeout: 20_000, interval: 250 }).toBe(before + 2);
    } finally {
      await worker.query("alter system reset track_functions");
      await worker.query("select pg_reload_conf()");
      await worker.end();
    }
  });

  it("direct, as a role that does not own the tables: the map leaves the shards out (lock_shard_metadata needs the owner), and calls name the distributed tables", async () => {
    const [, , , , , , , learner = 0] = learners;
    // Citus propagates the role and its grants to every worker; the test cluster trusts loopback logins.
    await database.pool.query("create role coupler_not_owner login");
    await database.pool.query(
      "grant select, insert, update, delete on all tables in schema public to coupler_not_owner; grant usage on all sequences in schema public to coupler_not_owner",
    );
    const url = Object.assign(new URL(citus.url), { username: "coupler_not_owner" }).toString();
    const notOwner = createDatabase({ connectionString: url, max: 2 });
    const own = await CitusRouter.start({ coordinator: notOwner.pool, connectionString: url, refreshIntervalMs: 0 });
    try {
      expect(own.workerMap?.shards.every((shard) => shard.tables === undefined)).toBe(true);
      expect(own.shardTablesFor(learner)).toBeUndefined();
      expect(own.decide(learner).route).toBe("direct");
      const coupler = createCoupler({ ...notOwner, close: async () => {} }, { citus: true, connections: own });
      await coupler.catalogue.get("PLAYER"); // cached after its first read, as in a running server
      const pair = { userId: learner, specialization: "PLAYER" };
      const before = await pairRows(database, learner);
      const { result, statements } = await recordStatements(() =>
        coupler.levelUp({ ...pair, xpGained: 30, sessionsCompleted: 1 }),
      );
      expect(result).toMatchObject({ totalXp: Number(before?.totalXp ?? 0) + 30 });
      expect(statements).toHaveLength(4);
      expect(statements[0]?.text).not.toContain("lock_shard_metadata");
      expect(statements[1]?.text).toContain('"specialization_progress"');
    } finally {
      await own.close();
      await notOwner.close();
      await database.pool.query("drop owned by coupler_not_owner; drop role coupler_not_owner");
    }
  });

  it("direct: validate, get and history on the owning worker are one statement each, run as local execution with zero remote commands", async () => {
    const [, , , learner = 0] = learners;
    const own = await CitusRouter.start({
      coordinator: database.pool,
      connectionString: citus.url,
      refreshIntervalMs: 0,
    });
    try {
      const pool = own.poolFor(learner);
      const log = logCitusCommands(pool);
      const coupler = couplerVia(own);
      await coupler.catalogue.get("PLAYER");
      await pool.query("select 1"); // the pool's first connection (and its logging SET) before the recording
      const pair = { userId: learner, specialization: "PLAYER" };
      await coupler.levelUp({ ...pair, xpGained: 400, sessionsCompleted: 1 }); // a history to read
      log.clear();
      const reads: [string, () => Promise<unknown>][] = [
        ["validate", () => coupler.validate(pair)],
        ["get", () => coupler.get(pair)],
        ["history", () => coupler.history(pair)],
        ["history after a cursor", () => coupler.history({ ...pair, limit: 1, cursor: Number.MAX_SAFE_INTEGER })],
      ];
      const report: string[] = [];
      for (const [name, read] of reads) {
        const { result, statements } = await recordStatements(read);
        expect(statements, name).toHaveLength(1);
        expect(log.local.length, name).toBeGreaterThan(0); // Citus ran the read's task here
        expect(log.remote, name).toEqual([]);
        report.push(`${name}: 1 round trip, ${log.local.length} local task(s), 0 remote commands`);
        log.clear();
        if (name === "validate") expect(result).toMatchObject({ consistent: true });
      }
      console.log(`reads on the owning worker:\n${report.join("\n")}`);
    } finally {
      await own.close();
    }
  });

  it("coordinator: every learner's pool is the coordinator's, and there a level-up is relayed to the worker as remote commands", async () => {
    const viaCoordinator = await CitusRouter.start({
      coordinator: database.pool,
      connectionString: citus.url,
      route: "coordinator",
      refreshIntervalMs: 0,
    });
    try {
      for (const learner of learners) {
        expect(viaCoordinator.decide(learner)).toMatchObject({ route: "coordinator", reason: "setting" });
        expect(viaCoordinator.poolFor(learner)).toBe(database.pool);
      }
      // Every statement through the coordinator runs in a worker's backend: not a miss under this setting.
      await couplerVia(viaCoordinator).levelUp({
        userId: learners[1] ?? 0,
        specialization: "PLAYER",
        xpGained: 3,
        sessionsCompleted: 0,
      });
      expect(viaCoordinator.stats.routeMisses).toBe(0);
      // The detour direct routing removes, seen the same way: a pool of the coordinator's own with the log on.
      const coordinator = createDatabase({ connectionString: citus.url, max: 2 });
      const log = logCitusCommands(coordinator.pool);
      const [learner = 0] = learners.slice(-1);
      await couplerOn(coordinator.pool).levelUp({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 5,
        sessionsCompleted: 1,
      });
      await coordinator.close();
      console.log(
        `coordinator route: a level-up sent ${log.remote.length} remote commands to ${await nodeOf(learner)}`,
      );
      expect(log.remote.length).toBeGreaterThan(0);
    } finally {
      await viaCoordinator.close();
    }
  });

  it("rows a coupled call inserts on a worker take ids from that worker's sequence range (group << 48), and read back exactly as numbers", async () => {
    const [fresh = 0] = (
      await database.pool.query<{ id: string }>(
        "insert into users (name, email) values ('On a worker', 'worker-ids-' || clock_timestamp() || '@example.test') returning id",
      )
    ).rows.map((r) => Number(r.id));
    const group = router.workerMap?.locate(fresh)?.shard.groupId ?? -1;
    const coupler = couplerVia(router);
    await coupler.enroll({ userId: fresh, specialization: "PLAYER" });
    await coupler.levelUp({ userId: fresh, specialization: "PLAYER", xpGained: 400, sessionsCompleted: 1 });
    const state = await coupler.get({ userId: fresh, specialization: "PLAYER" });
    const page = await coupler.history({ userId: fresh, specialization: "PLAYER" });
    const { rows } = await database.pool.query<{ progress: string; license: string; history: string[] }>(
      `select (select id::text from specialization_progress where student_id = $1) as progress,
              (select id::text from user_licenses where user_id = $1) as license,
              (select array_agg(id::text order by id desc) from license_progressions where user_id = $1) as history`,
      [fresh],
    );
    const row = rows[0];
    const start = BigInt(group) << 48n;
    const ids = [row?.progress, row?.license, ...(row?.history ?? [])];
    expect(ids.length).toBeGreaterThan(2);
    for (const id of ids) expect(BigInt(id ?? 0)).toBeGreaterThanOrEqual(start);
    // Read by the coupler as JS numbers: exactly the database's values.
    expect(String(state.license?.id)).toBe(row?.license);
    expect(page.items.map((h) => String(h.id))).toEqual(row?.history);
    console.log(`ids on worker group ${group} (range from ${start}): ${ids.join(", ")}`);
  });

  it("sync repairs a pair desynced behind the coupler's back, through the coordinator and on the owning worker", async () => {
    const [, , a = 0, b = 0] = learners;
    for (const [learner, coupler] of [
      [a, couplerOn(database.pool)],
      [b, couplerVia(router)],
    ] as const) {
      await database.pool.query(
        "update specialization_progress set current_level = 4, total_xp = 600 where student_id = $1",
        [learner],
      );
      expect(await coupler.sync({ userId: learner, specialization: "PLAYER", source: "progress" })).toMatchObject({
        changed: true,
        level: 4,
      });
      expect(await pairRows(database, learner)).toMatchObject({ progressLevel: 4, licenseLevel: 4 });
    }
  });

  it("direct: on the owning worker, sync rebuilds a missing half on the claimed shards with an id from the worker's range, and enroll creates a pair", async () => {
    const { rows } = await database.pool.query<{ id: string }>(
      "insert into users (name, email) select 'Shard ' || g, 'shard-' || g || '-' || $1 || '@test.local' from generate_series(1, 2) g returning id",
      [Date.now()],
    );
    const [halfOnly = 0, fresh = 0] = rows.map((r) => Number(r.id));
    // The progress half alone, written on the learner's worker with the foreign keys' triggers off.
    const worker = router.poolFor(halfOnly);
    const client = await worker.connect();
    try {
      await client.query("begin");
      await client.query("set local session_replication_role = replica");
      await client.query(
        "insert into specialization_progress (student_id, specialization_id, current_level, total_xp) values ($1, 'PLAYER', 3, 300)",
        [halfOnly],
      );
      await client.query("commit");
    } finally {
      client.release();
    }
    expect(router.shardTablesFor(halfOnly)).toBeDefined();
    const coupler = couplerVia(router);
    const { result, statements } = await recordStatements(() =>
      coupler.sync({ userId: halfOnly, specialization: "PLAYER", source: "progress" }),
    );
    expect(result).toMatchObject({ changed: true, level: 3 });
    // The write that creates the license names the learner's shard of it.
    expect(statements.some((st) => /insert into "user_licenses_\d+"/.test(st.text))).toBe(true);
    const pair = await pairRows(database, halfOnly);
    expect(pair).toMatchObject({ progressLevel: 3, licenseLevel: 3, maxAchievedLevel: 3 });
    const group = await localGroup(worker);
    expect(Math.floor((pair.licenseId ?? 0) / 2 ** 48)).toBe(group);

    await coupler.enroll({ userId: fresh, specialization: "PLAYER" });
    expect(await pairRows(database, fresh)).toMatchObject({ progressLevel: 1, licenseLevel: 1 });
  });

  it("a worker the API cannot reach fails only its own learners' calls, as UNAVAILABLE; an address override reaches a node by another name", async () => {
    const map = router.workerMap;
    const [down, up] = [...(map?.nodes.values() ?? [])].map((n) => `${n.host}:${n.port}`);
    const dead = await freePort(); // nothing listens there
    const [, upPort] = (up ?? "").split(":");
    const partial = await CitusRouter.start({
      coordinator: database.pool,
      connectionString: citus.url,
      refreshIntervalMs: 0,
      addresses: { [down ?? ""]: `127.0.0.1:${dead}`, [up ?? ""]: `localhost:${upPort}` },
    });
    try {
      const partialCoupler = couplerVia(partial);
      let failed = 0;
      let served = 0;
      for (const learner of learners) {
        const call = partialCoupler.levelUp({
          userId: learner,
          specialization: "PLAYER",
          xpGained: 1,
          sessionsCompleted: 0,
        });
        if (partial.decide(learner).node === down) {
          await expectCouplerError(call, "UNAVAILABLE");
          failed++;
        } else {
          await call;
          served++;
        }
      }
      expect(partial.urlOf(up ?? "")).toContain(`//postgres@localhost:${upPort}/`);
      expect({ failed: failed > 0, served: served > 0 }).toEqual({ failed: true, served: true });
    } finally {
      await partial.close();
    }
  });

  it("after a shard move, a call routed by the stale map still commits exactly once (the old worker forwards it), the miss is counted, and the refresh routes to the new worker", async () => {
    const [learner = 0] = learners;
    const before = router.decide(learner);
    const stale = router.poolFor(learner);
    const target = [...(router.workerMap?.nodes.values() ?? [])].find((n) => `${n.host}:${n.port}` !== before.node);
    const [fromHost, fromPort] = (before.node ?? "").split(":");
    await database.pool.query(
      "select citus_move_shard_placement($1::bigint, $2, $3::int, $4, $5::int, shard_transfer_mode => 'block_writes')",
      [before.shardId, fromHost, fromPort, target?.host, target?.port],
    );
    expect(await nodeOf(learner)).toBe(`${target?.host}:${target?.port}`);
    const xp = (await pairRows(database, learner)).totalXp;
    expect(router.stats.routeMisses).toBe(0); // every call so far reached its learner's worker
    const { statements } = await recordStatements(() =>
      couplerVia(router).levelUp({ userId: learner, specialization: "PLAYER", xpGained: 7, sessionsCompleted: 1 }),
    );
    expect((await pairRows(database, learner)).totalXp).toBe((xp ?? 0) + 7);
    // The claim found the shards gone: one more round trip, a SET LOCAL of the lock timeout alone, which Citus
    // replays on the connection it forwards with (the claim's text is not replayed: it holds no SET).
    // The call's transaction, without the map refresh the miss started meanwhile (catalog reads on the coordinator).
    const opened = statements.findIndex((st) => st.text.startsWith("BEGIN "));
    const transaction = statements
      .slice(opened, statements.findIndex((st) => st.text === "COMMIT") + 1)
      .filter((st) => !st.text.includes("pg_dist_"));
    expect(transaction.map((st) => st.text.split(" ").slice(0, 3).join(" "))).toEqual([
      "BEGIN ISOLATION LEVEL",
      "SET LOCAL lock_timeout",
      expect.stringMatching(/^select/),
      expect.stringMatching(/^with|^insert/),
      "COMMIT",
    ]);
    expect(transaction[1]?.text).toMatch(/^SET LOCAL lock_timeout = '\d+(ms|s)'$/);
    // The stale node forwarded the lock statement: it ran in another backend, and the coupler told the router.
    expect(router.stats.routeMisses).toBe(1);
    expect(misses).toEqual([{ userId: learner, shardId: before.shardId }]);
    const forwarded = await lockBackend(stale, learner);
    expect(forwarded.task).not.toBe(forwarded.connection);
    await router.refresh(); // the one the miss started is under way, or done
    expect(router.decide(learner).node).toBe(`${target?.host}:${target?.port}`);
    expect({ changes: router.stats.mapChanges, observed: mapChanges }).toEqual({ changes: 1, observed: 1 });
    expect(await localGroup(router.poolFor(learner))).toBe(router.workerMap?.locate(learner)?.shard.groupId);
    const local = await lockBackend(router.poolFor(learner), learner);
    expect(local.task).toBe(local.connection);
    await couplerVia(router).levelUp({ userId: learner, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 0 });
    expect(router.stats.routeMisses).toBe(1); // routed right again: no new miss
  });

  it("a router on a timer sees a shard move within its refresh interval, without a restart", async () => {
    const timed = await CitusRouter.start({
      coordinator: database.pool,
      connectionString: citus.url,
      refreshIntervalMs: 200,
    });
    try {
      const [, learner = 0] = learners;
      const before = timed.decide(learner);
      const target = [...(timed.workerMap?.nodes.values() ?? [])].find((n) => `${n.host}:${n.port}` !== before.node);
      const [fromHost, fromPort] = (before.node ?? "").split(":");
      // The test before moved a shard; its source copy is dropped later, and a move onto that node waits for it.
      await database.pool.query("call citus_cleanup_orphaned_resources()");
      await database.pool.query(
        "select citus_move_shard_placement($1::bigint, $2, $3::int, $4, $5::int, shard_transfer_mode => 'block_writes')",
        [before.shardId, fromHost, fromPort, target?.host, target?.port],
      );
      const moved = Date.now();
      while (timed.decide(learner).node === before.node && Date.now() - moved < 10_000)
        await new Promise((r) => setTimeout(r, 50));
      console.log(`timer refresh saw the move after ${Date.now() - moved} ms (interval 200 ms)`);
      expect(timed.decide(learner).node).toBe(`${target?.host}:${target?.port}`);
    } finally {
      await timed.close();
    }
  });
});
