/**
 * The legacy two-transaction path, kept as a baseline: these tests pin down
 * the failures it has and the coupler does not.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProgressLicenseCoupler, runIntegrityAudit } from "@coupler/core";
import { legacyLevelUp, legacySync } from "@coupler/core/legacy";
import {
  createCoupler,
  enrolledUser,
  pairRows,
  type TestDatabase,
  waitForLockWaiters,
  withSession,
} from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase({ max: 6 });
  coupler = createCoupler(database);
});
afterAll(() => database.drop());

describe("legacy path", () => {
  it("moves progress and license in two transactions", async () => {
    const id = await enrolledUser(database, coupler);
    expect(await legacyLevelUp(database.pool, coupler.catalogue, id, "PLAYER", 350, 1)).toMatchObject({
      previousLevel: 1,
      newLevel: 3,
    });
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 3, licenseLevel: 3, totalXp: 350 });
  });

  it("leaves a desync when the license transaction fails; the audit finds it and a coupler sync repairs it", async () => {
    const id = await enrolledUser(database, coupler);
    const failing = legacyLevelUp(database.pool, coupler.catalogue, id, "PLAYER", 350, 1, {
      betweenTransactions: () => Promise.reject(new Error("process crashed between the two transactions")),
    });
    await expect(failing).rejects.toThrow("process crashed");
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 3, licenseLevel: 1 });
    const report = await runIntegrityAudit(database.pool);
    expect(report.desynced.samples.map((s) => s.userId)).toContain(id);
    await coupler.sync({ userId: id, specialization: "PLAYER", source: "progress" });
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 3, licenseLevel: 3 });
  });

  it("loses an update when two level-ups race (both read before either writes)", async () => {
    const id = await enrolledUser(database, coupler);
    const totals = await withSession(database, async (blocker) => {
      // Hold the progress row so both legacy calls read it, then queue their UPDATEs.
      await blocker.query("begin");
      await blocker.query("select 1 from specialization_progress where student_id = $1 for update", [id]);
      const calls = [100, 200].map((xp) => legacyLevelUp(database.pool, coupler.catalogue, id, "PLAYER", xp, 1));
      await waitForLockWaiters(database, { count: 2 });
      await blocker.query("rollback");
      return { calls };
    }).then(({ calls }) => Promise.all(calls));
    // Each call computed its total from the same stale read of 0 XP.
    expect(totals.map((t) => t.totalXp).sort((a, b) => a - b)).toEqual([100, 200]);
    const { totalXp } = await pairRows(database, id);
    // 300 XP were awarded; the last writer overwrote the other.
    expect([100, 200]).toContain(totalXp);
  });

  it("legacySync copies the progress level onto the license", async () => {
    const id = await enrolledUser(database, coupler);
    // The injected crash must fire: it is what leaves the desync legacySync repairs.
    await expect(
      legacyLevelUp(database.pool, coupler.catalogue, id, "PLAYER", 100, 1, {
        betweenTransactions: () => Promise.reject(new Error("crash between the two transactions")),
      }),
    ).rejects.toThrow("crash between the two transactions");
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 2, licenseLevel: 1 });
    expect(await legacySync(database.pool, id, "PLAYER")).toEqual({ level: 2 });
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 2, licenseLevel: 2 });
  });
});
