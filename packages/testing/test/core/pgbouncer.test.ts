import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createDatabase,
  migrate,
  runIntegrityAudit,
  sqlStateOf,
  type Database,
  type ProgressLicenseCoupler,
} from "@coupler/core";
import { expectCallsMet, useTestDatabase } from "../../src/vitest.ts";
import {
  COMBINING_MODES,
  createCoupler,
  enrolledUser,
  enrolledUsers,
  historySteps,
  pairRows,
  recordingObserver,
  type TestDatabase,
} from "../../src/index.ts";
import { findPgBouncer, startPgBouncer, type PgBouncer } from "../../src/pgbouncer.ts";

/**
 * The coupler behind PgBouncer in transaction mode: 3 server connections
 * shared by a client pool of 20, so consecutive transactions of one client
 * land on different server connections. With preparedStatements: false every
 * statement is sent unnamed, and nothing may depend on session state.
 */
const binary = await findPgBouncer();
if (!binary)
  console.warn(
    `pgbouncer.test.ts skipped: no pgbouncer at ${process.env.PGBOUNCER || "/usr/sbin/pgbouncer"} (apt-get install pgbouncer)`,
  );

describe.skipIf(!binary)("through PgBouncer in transaction mode", () => {
  let database: TestDatabase;
  let bouncer: PgBouncer;
  let pooled: Database;
  let coupler: ProgressLicenseCoupler;

  beforeAll(async () => {
    database = await useTestDatabase({ max: 2 });
    bouncer = await startPgBouncer(database.url, { defaultPoolSize: 3 });
    pooled = createDatabase({ connectionString: bouncer.urlFor(database.url), max: 20 });
    coupler = createCoupler(pooled, { preparedStatements: false, lockTimeoutMs: 20_000 });
  });
  afterAll(async () => {
    await pooled?.close();
    await bouncer?.stop();
    await database?.drop();
  });

  // The concurrent calls with write combining on and off: off, each call is a transaction of its own and
  // they meet at the row locks through the pooler's 3 server connections; on, they share transactions.
  describe.each(COMBINING_MODES)("concurrency, write combining $mode", ({ combining }) => {
    /** A coupler of this mode and the events of its calls. */
    function concurrentCoupler() {
      const observer = recordingObserver();
      return {
        observer,
        coupler: createCoupler(pooled, { preparedStatements: false, lockTimeoutMs: 20_000, combining, observer }),
      };
    }

    it("40 concurrent level-ups on one learner add up exactly, with one contiguous history", async () => {
      const id = await enrolledUser(pooled, coupler);
      const { coupler: concurrent, observer } = concurrentCoupler();
      const results = await Promise.all(
        Array.from({ length: 40 }, () =>
          concurrent.levelUp({ userId: id, specialization: "PLAYER", xpGained: 25, sessionsCompleted: 1 }),
        ),
      );
      expect(results.every((r) => !r.replayed)).toBe(true);
      expect(await pairRows(database, id)).toMatchObject({
        totalXp: 1000,
        completedSessions: 40,
        progressLevel: 5,
        licenseLevel: 5,
      });
      expect(await historySteps(database, id)).toEqual([
        [1, 2],
        [2, 3],
        [3, 4],
        [4, 5],
      ]);
      expect(await coupler.validate({ userId: id, specialization: "PLAYER" })).toMatchObject({ consistent: true });
      expectCallsMet(observer.events, combining);
    });

    it("concurrent level-ups of 25 learners, 6 each, add up exactly per learner", async () => {
      const ids = await enrolledUsers(pooled, coupler, 25);
      const { coupler: concurrent, observer } = concurrentCoupler();
      await Promise.all(
        ids.flatMap((id) =>
          Array.from({ length: 6 }, () =>
            concurrent.levelUp({ userId: id, specialization: "PLAYER", xpGained: 50, sessionsCompleted: 1 }),
          ),
        ),
      );
      for (const id of ids)
        expect(await pairRows(database, id)).toMatchObject({
          totalXp: 300,
          completedSessions: 6,
          progressLevel: 3,
          licenseLevel: 3,
        });
      expectCallsMet(observer.events, combining);
    });

    it("a key sent 10 times at once applies once and replays to the rest", async () => {
      const id = await enrolledUser(pooled, coupler);
      const { coupler: concurrent, observer } = concurrentCoupler();
      const key = `bouncer-${randomUUID()}`;
      const call = { userId: id, specialization: "PLAYER", xpGained: 120, sessionsCompleted: 1, idempotencyKey: key };
      const results = await Promise.all(
        Array.from({ length: 10 }, () => concurrent.levelUp(call, { actor: "instructor:1" })),
      );
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      expect(await pairRows(database, id)).toMatchObject({ totalXp: 120, completedSessions: 1 });
      expectCallsMet(observer.events, combining);
    });
  });

  it("sync, validate and the integrity audit work through the pooler", async () => {
    const id = await enrolledUser(pooled, coupler);
    await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    await database.pool.query("update specialization_progress set current_level = 2 where student_id = $1", [id]);
    expect(await coupler.validate({ userId: id, specialization: "PLAYER" })).toMatchObject({ consistent: false });
    expect((await runIntegrityAudit(pooled.pool)).desynced.count).toBe(1);
    expect(await coupler.sync({ userId: id, specialization: "PLAYER", source: "license" })).toMatchObject({
      level: 3,
      changed: true,
    });
    expect(await coupler.validate({ userId: id, specialization: "PLAYER" })).toMatchObject({ consistent: true });
    expect((await runIntegrityAudit(pooled.pool)).violations).toBe(0);
  });

  it("get, validate and history through the pooler: 60 reads at once over 3 server connections answer as the pair is", async () => {
    const id = await enrolledUser(pooled, coupler);
    await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    const pair = { userId: id, specialization: "PLAYER" };
    const reads = await Promise.all(
      Array.from({ length: 20 }, () => Promise.all([coupler.get(pair), coupler.validate(pair), coupler.history(pair)])),
    );
    for (const [state, report, page] of reads) {
      expect(state).toMatchObject({ progress: { currentLevel: 3 }, license: { currentLevel: 3 } });
      expect(report).toMatchObject({ consistent: true });
      expect(page.items.map((h) => [h.fromLevel, h.toLevel])).toEqual([[1, 3]]);
    }
  });

  it("migrate() through the pooler applies nothing to a migrated database, twice at once", async () => {
    const url = bouncer.urlFor(database.url);
    expect(await Promise.all([migrate(url), migrate(url)])).toEqual([0, 0]);
  });

  it("named prepared statements break under transaction pooling before PgBouncer 1.21 (42P05 or 26000)", async (context) => {
    if (binary?.tracksPreparedStatements) {
      console.warn(
        `pgbouncer ${binary.version} tracks prepared statements (max_prepared_statements): the failure does not happen there`,
      );
      context.skip();
    }
    const named = createCoupler(pooled, { preparedStatements: true, lockTimeoutMs: 20_000, maxRetries: 0 });
    const ids = await enrolledUsers(pooled, coupler, 20);
    const settled = await Promise.allSettled(
      ids.flatMap((id) =>
        [1, 2, 3].map(() =>
          named.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
        ),
      ),
    );
    const codes = new Set(settled.flatMap((r) => (r.status === "rejected" ? [sqlStateOf(r.reason)] : [])));
    expect(codes.size).toBeGreaterThan(0);
    for (const code of codes) expect(["42P05", "26000"]).toContain(code);
  });
});
