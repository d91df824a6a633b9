import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProgressLicenseCoupler } from "@coupler/core";
import { legacyLevelUp } from "@coupler/core/legacy";
import { createCoupler, enrolledUser, type Session, type TestDatabase, withSession } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import { checkCoupler } from "./checker.ts";
import { DEFAULT_FAULT_RATES, InjectedFault } from "./faults.ts";
import { History, type OpRecord } from "./history.ts";
import { countLegacyAnomalies } from "./legacyCounts.ts";
import { DEFAULT_OPTIONS } from "./chaosOptions.ts";
import type { ChaosResult } from "./chaosResult.ts";
import { runChaos } from "./runChaos.ts";
import { readSnapshot } from "./snapshot.ts";

const SEED = 20240611;

describe("the CI-sized chaos round", () => {
  let result: ChaosResult;

  beforeAll(async () => {
    // Its own embedded server (started by runChaos), because the round restarts it.
    result = await runChaos({
      ...DEFAULT_OPTIONS,
      seed: SEED,
      clients: 6,
      ops: 1_200,
      // A time budget the operation budget ends first, even on a loaded machine: the fault counts below need the ops.
      durationMs: 40_000,
      rounds: 2,
      modes: ["coupler", "legacy"],
      // The rarer kinds at a few percent, so each fires in a round of 600 calls whatever the timing.
      faults: {
        ...DEFAULT_FAULT_RATES,
        killBeforeBegin: 0.03,
        killMidTransaction: 0.03,
        killBeforeCommit: 0.03,
        killDuringCommit: 0.05,
      },
      restart: true,
      snapshotIntervalMs: 250,
    });
  }, 120_000);

  it("ends with zero coupler violations and every operation answered", () => {
    const coupler = result.modes.find((m) => m.mode === "coupler");
    expect(coupler?.violations).toEqual([]);
    expect(coupler?.operations.pending).toBe(0);
    expect(coupler?.operations.failed).toBe(0);
    expect(coupler?.integrity?.violations).toBe(0);
    expect(coupler?.snapshotsChecked).toBeGreaterThan(0);
  });

  it("actually injected every kind of coupler fault, including a restart", () => {
    const faults = result.modes.find((m) => m.mode === "coupler")?.faults;
    for (const kind of [
      "killBackend",
      "killBeforeBegin",
      "killMidTransaction",
      "failMidTransaction",
      "killBeforeCommit",
      "killDuringCommit",
      "statementTimeout",
      "clientAbort",
      "restart",
    ] as const) {
      expect(faults?.[kind], kind).toBeGreaterThan(0);
    }
  });

  it("counts the legacy path's anomalies under the same workload", () => {
    const legacy = result.modes.find((m) => m.mode === "legacy")?.legacy;
    expect(legacy?.ackedLevelUps).toBeGreaterThan(0);
    // Hot pairs and unlocked read-modify-write: concurrent level-ups overwrite each other.
    expect(legacy?.lostUpdates).toBeGreaterThan(0);
  });
});

describe("the checker under forced interleavings", () => {
  let database: TestDatabase;
  let coupler: ProgressLicenseCoupler;

  beforeAll(async () => {
    database = await useTestDatabase();
    coupler = createCoupler(database);
  });
  afterAll(() => database.drop());

  /** Two calls start while another session holds the progress row; both are seen waiting, then the holder commits. */
  /** Runs `calls` while another session holds the pair, once `waiters` of them wait on its lock (default all). */
  async function raceBehindLock(userId: number, calls: (() => Promise<unknown>)[], waiters = calls.length) {
    return withSession(database, async (holder) => {
      await holder.query("begin");
      await holder.query(
        "update specialization_progress set updated_at = updated_at where student_id = $1 and specialization_id = 'PLAYER'",
        [userId],
      );
      const running = calls.map((call) => call());
      await waitForLockWaiters(holder, waiters);
      await holder.query("commit");
      return Promise.all(running);
    });
  }

  function acked(
    history: History,
    op: Omit<OpRecord, "id" | "status" | "attempts" | "errors" | "indeterminate">,
    totalXp: number,
  ) {
    const record = history.add(op);
    record.attempts = 1;
    history.ack(record, { totalXp });
    return record;
  }

  it("counts a legacy lost update and the coupler checker names it", async () => {
    const userId = await enrolledUser(database, coupler);
    const [a, b] = (await raceBehindLock(userId, [
      () => legacyLevelUp(database.pool, coupler.catalogue, userId, "PLAYER", 120, 1),
      () => legacyLevelUp(database.pool, coupler.catalogue, userId, "PLAYER", 70, 1),
    ])) as [{ totalXp: number }, { totalXp: number }];
    const history = new History();
    const base = { round: 1, kind: "levelUp" as const, userId, specialization: "PLAYER" };
    acked(history, { ...base, client: 0, xp: 120, sessions: 1, key: "forced-lost-a" }, a.totalXp);
    acked(history, { ...base, client: 1, xp: 70, sessions: 1, key: "forced-lost-b" }, b.totalXp);

    const snapshot = await readSnapshot(database.pool, [{ userId, specialization: "PLAYER" }]);
    const counts = countLegacyAnomalies(snapshot, history.ops);
    expect(counts.lostUpdates).toBe(1);
    expect(counts.missingXp).toBeGreaterThan(0);

    const violations = checkCoupler(snapshot, history.ops, { final: true });
    const xp = violations.find((v) => v.invariant === "XP_ACKNOWLEDGED");
    expect(xp).toMatchObject({ userId, specialization: "PLAYER" });
    expect(xp?.detail).toMatch(/acknowledged level-ups sum to 190/);
    expect(
      violations.some((v) => v.invariant === "EXACTLY_ONCE" && v.operations.some((o) => o.includes("forced-lost-a"))),
    ).toBe(true);
  });

  it("counts a legacy desync when the license transaction fails, and the checker names the pair", async () => {
    const userId = await enrolledUser(database, coupler);
    await expect(
      legacyLevelUp(database.pool, coupler.catalogue, userId, "PLAYER", 350, 1, {
        betweenTransactions: () => Promise.reject(new InjectedFault("license transaction never ran")),
      }),
    ).rejects.toThrow(InjectedFault);

    const snapshot = await readSnapshot(database.pool, [{ userId, specialization: "PLAYER" }]);
    expect(countLegacyAnomalies(snapshot, []).desyncedPairs).toBe(1);
    const violations = checkCoupler(snapshot, [], { final: true });
    expect(violations.find((v) => v.invariant === "LEVELS_EQUAL")).toMatchObject({
      userId,
      specialization: "PLAYER",
      detail: "progress at level 3, license at 1",
    });
  });

  it("finds nothing when the coupler runs the same lost-update interleaving", async () => {
    const userId = await enrolledUser(database, coupler);
    // With write combining the second call waits in memory behind the first, not on the lock.
    const [a, b] = (await raceBehindLock(
      userId,
      [
        () =>
          coupler.levelUp({
            userId,
            specialization: "PLAYER",
            xpGained: 120,
            sessionsCompleted: 1,
            idempotencyKey: "forced-coupler-a",
          }),
        () =>
          coupler.levelUp({
            userId,
            specialization: "PLAYER",
            xpGained: 70,
            sessionsCompleted: 1,
            idempotencyKey: "forced-coupler-b",
          }),
      ],
      coupler.combining ? 1 : 2,
    )) as [{ totalXp: number }, { totalXp: number }];
    const history = new History();
    const base = { round: 1, kind: "levelUp" as const, userId, specialization: "PLAYER" };
    acked(history, { ...base, client: 0, xp: 120, sessions: 1, key: "forced-coupler-a" }, a.totalXp);
    acked(history, { ...base, client: 1, xp: 70, sessions: 1, key: "forced-coupler-b" }, b.totalXp);

    const snapshot = await readSnapshot(database.pool, [{ userId, specialization: "PLAYER" }]);
    expect(checkCoupler(snapshot, history.ops, { final: true })).toEqual([]);
    expect(snapshot.pairs.get(`${userId}/PLAYER`)?.progress?.totalXp).toBe(190);
  });
});

async function waitForLockWaiters(observer: Session, count: number): Promise<void> {
  for (;;) {
    const { rows } = await observer.query<{ n: string }>(
      "select count(*) as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'",
    );
    if (Number(rows[0]?.n ?? 0) >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
