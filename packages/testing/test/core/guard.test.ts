import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  createDatabase,
  getGuard,
  GuardRefusedError,
  type ProgressLicenseCoupler,
  runIntegrityAudit,
  setGuard,
} from "@coupler/core";
import {
  createCoupler,
  enrolledUser,
  pairRows,
  rawTransaction,
  snapshotTables,
  type TestDatabase,
} from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase();
  coupler = createCoupler(database);
});
afterAll(() => database.drop());
// Each test starts with the guard off (as the migrations leave it).
beforeEach(async () => {
  await setGuard(database.pool, false, "test");
});

const desyncProgress = (id: number, level: number) =>
  ["update specialization_progress set current_level = $2 where student_id = $1", [id, level]] as [string, unknown[]];

describe("coupling guard", () => {
  it("is off after the migrations and records who switched it", async () => {
    const state = await setGuard(database.pool, true, "operator-7");
    expect(state).toMatchObject({ enabled: true, changedBy: "operator-7" });
    expect(await getGuard(database.pool)).toMatchObject({ enabled: true, changedBy: "operator-7" });
  });

  it("when on, rejects at COMMIT a raw-SQL update of only the progress level, and nothing changes", async () => {
    const id = await enrolledUser(database, coupler);
    await setGuard(database.pool, true, "test");
    const before = await snapshotTables(database);
    await expect(rawTransaction(database, [desyncProgress(id, 3)])).rejects.toMatchObject({
      code: "23000",
      constraint: "coupling_guard",
    });
    expect(await snapshotTables(database)).toEqual(before);
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 1, licenseLevel: 1 });
  });

  it("when on, still lets the coupler and a raw transaction that moves both rows commit", async () => {
    const id = await enrolledUser(database, coupler);
    await setGuard(database.pool, true, "test");
    await coupler.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    await rawTransaction(database, [
      desyncProgress(id, 4),
      ["update user_licenses set current_level = 4, max_achieved_level = 4 where user_id = $1", [id]],
    ]);
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 4, licenseLevel: 4 });
  });

  it("runs its check at COMMIT only for a write that moves a level: XP-only level-ups skip it, a level change runs it on both rows", async () => {
    const id = await enrolledUser(database, coupler);
    await setGuard(database.pool, true, "test");
    // One connection whose PL/pgSQL calls PostgreSQL counts (track_functions = pl).
    const counted = createDatabase({ connectionString: `${database.url}?options=-c%20track_functions%3Dpl`, max: 1 });
    try {
      const tracked = createCoupler(counted);
      const guardCalls = async () => {
        const { rows } = await database.pool.query<{ calls: string }>(
          "select coalesce(sum(calls), 0) as calls from pg_stat_user_functions where funcname = 'coupler_coupling_guard'",
        );
        return Number(rows[0]?.calls);
      };
      // The connection's counts reach the statistics when it goes idle after this statement.
      const flush = () => counted.pool.query("select pg_stat_force_next_flush()");
      const before = await guardCalls();
      for (let i = 0; i < 3; i++)
        await tracked.levelUp({ userId: id, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 });
      expect(await pairRows(database, id)).toMatchObject({ progressLevel: 1, licenseLevel: 1 });
      await tracked.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
      expect(await pairRows(database, id)).toMatchObject({ progressLevel: 3, licenseLevel: 3 });
      await flush();
      // All four calls' counts arrive in one flush: 2 (progress and license) for the level change, 0 for the rest.
      await expect.poll(guardCalls).not.toBe(before);
      expect((await guardCalls()) - before).toBe(2);
    } finally {
      await counted.pool.end();
    }
  });

  it("fires even under session_replication_role = replica", async () => {
    const id = await enrolledUser(database, coupler);
    await setGuard(database.pool, true, "test");
    await expect(rawTransaction(database, [desyncProgress(id, 2)], { replica: true })).rejects.toMatchObject({
      code: "23000",
      constraint: "coupling_guard",
    });
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 1, licenseLevel: 1 });
  });

  it("when off, lets a raw desync commit; the audit reports it, enabling is refused with the count until sync repairs it", async () => {
    const [a, b] = [await enrolledUser(database, coupler), await enrolledUser(database, coupler)];
    await rawTransaction(database, [desyncProgress(a, 3), desyncProgress(b, 2)]);
    expect(await pairRows(database, a)).toMatchObject({ progressLevel: 3, licenseLevel: 1 });

    const report = await runIntegrityAudit(database.pool);
    expect(report.desynced.count).toBe(2);
    expect(report.desynced.samples.map((s) => s.userId).sort()).toEqual([a, b].sort());

    const refused = await setGuard(database.pool, true, "test").catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(GuardRefusedError);
    expect(refused).toMatchObject({ code: "CONFLICT", desynced: 2 });
    expect((refused as Error).message).toContain("2 desynced pair(s)");
    expect(await getGuard(database.pool)).toMatchObject({ enabled: false });

    await coupler.sync({ userId: a, specialization: "PLAYER", source: "progress" });
    await expect(setGuard(database.pool, true, "test")).rejects.toMatchObject({ desynced: 1 });
    await coupler.sync({ userId: b, specialization: "PLAYER", source: "license" });
    expect(await pairRows(database, b)).toMatchObject({ progressLevel: 1, licenseLevel: 1 });
    expect(await setGuard(database.pool, true, "test")).toMatchObject({ enabled: true });
    expect((await runIntegrityAudit(database.pool)).desynced.count).toBe(0);
  });
});
