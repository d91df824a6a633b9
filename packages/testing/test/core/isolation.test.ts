/**
 * Deterministic interleavings in the manner of PostgreSQL's isolation tester:
 * a step runs only after the previous one is observed (a session seen waiting
 * on a lock in pg_stat_activity), never after a sleep.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ProgressLicenseCoupler, setGuard } from "@coupler/core";
import {
  backendPid,
  COMBINING_MODES,
  createCoupler,
  enrolledUser,
  historySteps,
  pairRows,
  recordingObserver,
  type TestDatabase,
  waitForLockWaiters,
  withSession,
} from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase();
  coupler = createCoupler(database);
  // Session A's raw writes must follow the guard's rules too.
  await setGuard(database.pool, true, "isolation-test");
});
afterAll(() => database.drop());

/** What pg_stat_activity shows for a backend. */
async function activityOf(pid: number) {
  return withSession(database, async (s) => {
    const { rows } = await s.query<{
      application_name: string;
      wait_event_type: string | null;
      state: string;
      query: string;
    }>("select application_name, wait_event_type, state, query from pg_stat_activity where pid = $1", [pid]);
    return rows[0];
  });
}

/** A promise and the function that resolves it: a step gate. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

// Each interleaving with write combining on and off: the calls here come from different couplers
// (or meet a raw session), so either way they meet at PostgreSQL's row locks.
describe.each(COMBINING_MODES)("interleaving, write combining $mode", ({ combining }) => {
  it("a coupler call blocked by session A's row locks waits, then proceeds from A's committed state", async () => {
    const id = await enrolledUser(database, coupler);
    const observer = recordingObserver();
    let bPid = 0;
    const b = createCoupler(database, {
      observer,
      lockTimeoutMs: 20_000,
      combining,
      faults: { beforeBegin: async (client) => void (bPid = backendPid(client)) },
    });
    const order: string[] = [];

    const result = await withSession(database, async (a) => {
      await a.lockPair(id);
      order.push("A locked the pair");

      const call = b
        .levelUp({ userId: id, specialization: "PLAYER", xpGained: 100, sessionsCompleted: 1 })
        .then((r) => {
          order.push("B returned");
          return r;
        });
      const waiters = await waitForLockWaiters(database, { blockedBy: a.pid });
      order.push("B waits on A");
      // The backend seen waiting on A is B's own.
      expect(waiters).toEqual([bPid]);
      const activity = await activityOf(bPid);
      expect(activity).toMatchObject({ application_name: "coupler", wait_event_type: "Lock", state: "active" });
      // The lock statement, unkeyed (its start: pg_stat_activity keeps the first 1 kB; FOR UPDATE is further on).
      expect(activity?.query).toMatch(/^select "specialization_progress"\."id", [\s\S]* "user_licenses"\."id", /);

      // A moves both rows (and the history) consistently: 250 XP, level 2.
      await a.query(
        "update specialization_progress set total_xp = 250, completed_sessions = 5, current_level = 2 where student_id = $1",
        [id],
      );
      await a.query("update user_licenses set current_level = 2, max_achieved_level = 2 where user_id = $1", [id]);
      await a.query(
        "insert into license_progressions (user_id, user_license_id, from_level, to_level, reason, actor) select user_id, id, 1, 2, 'session A', 'a' from user_licenses where user_id = $1",
        [id],
      );
      // While A holds the locks, B cannot have returned. (After A's COMMIT the order of A's reply and
      // B's is a race: PostgreSQL releases the locks inside COMMIT, before A's reply is sent.)
      expect(order).toEqual(["A locked the pair", "B waits on A"]);
      await a.query("commit");
      return call;
    });

    // B read A's committed rows after the lock: 250 + 100 XP is level 3.
    expect(result).toMatchObject({
      previousLevel: 2,
      totalXp: 350,
      completedSessions: 6,
      newLevel: 3,
      leveledUp: true,
    });
    expect(await pairRows(database, id)).toMatchObject({ progressLevel: 3, licenseLevel: 3, totalXp: 350 });
    expect(await historySteps(database, id)).toEqual([
      [1, 2],
      [2, 3],
    ]);
    expect(observer.events).toHaveLength(1);
    expect(observer.events[0]).toMatchObject({
      operation: "levelUp",
      outcome: "applied",
      contended: true,
      contention: "row_lock",
      batchSize: 1,
    });
    expect(observer.events[0]?.lockWaitMs).toBeGreaterThan(0);
  });

  it("a second coupler call waits for the first one's COMMIT and builds on its result", async () => {
    const id = await enrolledUser(database, coupler);
    const order: string[] = [];
    const aWrote = gate();
    const aMayCommit = gate();
    let aPid = 0;
    let bPid = 0;
    const a = createCoupler(database, {
      combining,
      faults: {
        beforeCommit: async (client) => {
          aPid = backendPid(client);
          order.push("A wrote both rows");
          aWrote.open();
          await aMayCommit.opened;
        },
      },
    });
    const observer = recordingObserver();
    const b = createCoupler(database, {
      observer,
      lockTimeoutMs: 20_000,
      combining,
      faults: { beforeBegin: async (client) => void (bPid = backendPid(client)) },
    });
    const first = a.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    await aWrote.opened;
    const second = b
      .levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 })
      .then((r) => {
        order.push("B returned");
        return r;
      });
    const waiters = await waitForLockWaiters(database, { blockedBy: aPid });
    order.push("B waits on A");
    // B, and only B, was seen waiting on A's backend; it cannot return while A holds the locks.
    expect(waiters).toEqual([bPid]);
    expect(order).toEqual(["A wrote both rows", "B waits on A"]);
    aMayCommit.open();
    // Which reply reaches Node first after A's COMMIT is a race (PostgreSQL releases the row locks inside
    // COMMIT, before A's reply is sent): what is guaranteed is that B read what A committed.
    const [ra, rb] = await Promise.all([first, second]);

    expect(ra).toMatchObject({ previousLevel: 1, newLevel: 3, totalXp: 300 });
    expect(rb).toMatchObject({ previousLevel: 3, newLevel: 4, totalXp: 600 });
    expect(observer.events).toEqual([
      expect.objectContaining({ operation: "levelUp", outcome: "applied", contention: "row_lock", batchSize: 1 }),
    ]);
    expect(await historySteps(database, id)).toEqual([
      [1, 3],
      [3, 4],
    ]);
  });

  it("a sync blocked behind a level-up repairs nothing: it sees the pair the level-up committed", async () => {
    const id = await enrolledUser(database, coupler);
    const syncer = createCoupler(database, { combining, lockTimeoutMs: 20_000 });
    const result = await withSession(database, async (a) => {
      await a.lockPair(id);
      const sync = syncer.sync({ userId: id, specialization: "PLAYER", source: "progress" });
      await waitForLockWaiters(database, { blockedBy: a.pid });
      await a.query("update specialization_progress set current_level = 2, total_xp = 100 where student_id = $1", [id]);
      await a.query("update user_licenses set current_level = 2, max_achieved_level = 2 where user_id = $1", [id]);
      await a.query(
        "insert into license_progressions (user_id, user_license_id, from_level, to_level, reason, actor) select user_id, id, 1, 2, 'session A', 'a' from user_licenses where user_id = $1",
        [id],
      );
      await a.query("commit");
      return sync;
    });
    expect(result).toMatchObject({ progressLevel: 2, licenseLevel: 2, level: 2, changed: false });
  });
});
