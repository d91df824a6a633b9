import type { ProgressLicenseCoupler } from "@coupler/core";
import { afterAll, describe, expect, it } from "vitest";
import { createCoupler, createUsers, enrolledUser, rawTransaction, recordingPool } from "../../src/index.ts";
import { expectCouplerError, useTestDatabase } from "../../src/vitest.ts";

// The round trips each coupler call sends, counted on the wire (a pool whose
// clients write down every query), as ARCHITECTURE.md states them. A call
// runs alone here (one at a time), so write combining does not change them.

const database = await useTestDatabase({ max: 4 });
afterAll(() => database.drop());

const counting = recordingPool(database.url, 2);
afterAll(() => counting.pool.end());
const coupler: ProgressLicenseCoupler = createCoupler(database, { pool: counting.pool });
const plain = createCoupler(database);

/** The round trips `call` sends (BEGIN and COMMIT included). */
async function roundTrips(call: () => Promise<unknown>): Promise<number> {
  counting.sent.length = 0;
  await call();
  return counting.sent.length;
}

describe("round trips per call", () => {
  it("enroll sends seven round trips, for a new learner and an enrolled one alike", async () => {
    const [id = 0] = await createUsers(database, 1);
    expect(await roundTrips(() => coupler.enroll({ userId: id, specialization: "PLAYER" }))).toBe(7);
    expect(await roundTrips(() => coupler.enroll({ userId: id, specialization: "PLAYER" }))).toBe(7);
  });

  it("levelUp sends four round trips, with or without a level change, a key or a replay", async () => {
    const id = await enrolledUser(database, plain);
    const call = { userId: id, specialization: "PLAYER", sessionsCompleted: 1 };
    expect(await roundTrips(() => coupler.levelUp({ ...call, xpGained: 1 }))).toBe(4);
    expect(await roundTrips(() => coupler.levelUp({ ...call, xpGained: 300 }))).toBe(4);
    expect(await roundTrips(() => coupler.levelUp({ ...call, xpGained: 5, idempotencyKey: "k1" }))).toBe(4);
    // A replay writes nothing: BEGIN, the lock statement, COMMIT.
    expect(await roundTrips(() => coupler.levelUp({ ...call, xpGained: 5, idempotencyKey: "k1" }))).toBe(3);
  });

  it("advance sends four round trips, and a no-op advance four as well (its audit row)", async () => {
    const id = await enrolledUser(database, plain);
    const call = { userId: id, specialization: "PLAYER", reason: "coach" };
    expect(await roundTrips(() => coupler.advance({ ...call, newLevel: 3 }))).toBe(4);
    expect(await roundTrips(() => coupler.advance({ ...call, newLevel: 3 }))).toBe(4);
  });

  it("sync sends four round trips with both halves present, in step or not", async () => {
    const id = await enrolledUser(database, plain);
    await plain.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    expect(await roundTrips(() => coupler.sync({ userId: id, specialization: "PLAYER", source: "progress" }))).toBe(4);
    await rawTransaction(database, [
      ["update specialization_progress set current_level = 2 where student_id = $1", [id]],
    ]);
    expect(await roundTrips(() => coupler.sync({ userId: id, specialization: "PLAYER", source: "license" }))).toBe(4);
  });

  it("sync that repairs a history chain sends five round trips: it reads the chain's end afresh before it writes", async () => {
    const id = await enrolledUser(database, plain);
    await rawTransaction(database, [
      ["update specialization_progress set current_level = 3 where student_id = $1", [id]],
      ["update user_licenses set current_level = 3, max_achieved_level = 3 where user_id = $1", [id]],
    ]);
    expect(await roundTrips(() => coupler.sync({ userId: id, specialization: "PLAYER", source: "license" }))).toBe(5);
  });

  it("sync of a pair with a missing half sends six round trips, whichever half it rebuilds", async () => {
    const [progressOnly = 0, licenseOnly = 0] = await createUsers(database, 2);
    await rawTransaction(
      database,
      [
        [
          "insert into specialization_progress (student_id, specialization_id, current_level) values ($1, 'PLAYER', 3)",
          [progressOnly],
        ],
        ["insert into user_licenses (user_id, specialization_type) values ($1, 'PLAYER')", [licenseOnly]],
      ],
      { replica: true },
    );
    const sync = (userId: number, source: "progress" | "license") =>
      roundTrips(() => coupler.sync({ userId, specialization: "PLAYER", source }));
    expect(await sync(progressOnly, "progress")).toBe(6);
    expect(await sync(licenseOnly, "license")).toBe(6);
  });

  it("validate, get and history send one round trip each: one statement, no BEGIN or COMMIT", async () => {
    const id = await enrolledUser(database, plain);
    await plain.levelUp({ userId: id, specialization: "PLAYER", xpGained: 300, sessionsCompleted: 1 });
    const pair = { userId: id, specialization: "PLAYER" };
    for (const read of [() => coupler.validate(pair), () => coupler.get(pair), () => coupler.history(pair)]) {
      counting.sent.length = 0;
      await read();
      expect(counting.sent).toHaveLength(1);
      expect(counting.sent[0]).toMatch(/^select /);
    }
    expect(await roundTrips(() => coupler.history({ ...pair, limit: 1, cursor: Number.MAX_SAFE_INTEGER }))).toBe(1);
  });

  it("reads of a learner who is not enrolled, or of half a pair, send one round trip too (NOT_FOUND or a report)", async () => {
    const [notEnrolled = 0, progressOnly = 0] = await createUsers(database, 2);
    await rawTransaction(
      database,
      [["insert into specialization_progress (student_id, specialization_id) values ($1, 'PLAYER')", [progressOnly]]],
      { replica: true },
    );
    const notFound = (read: () => Promise<unknown>) => roundTrips(() => expectCouplerError(read(), "NOT_FOUND"));
    // Enrolled nowhere, and no such user: the same statement says which NOT_FOUND it is.
    for (const userId of [notEnrolled, 2_000_000_000]) {
      const pair = { userId, specialization: "PLAYER" };
      expect(await notFound(() => coupler.validate(pair))).toBe(1);
      expect(await notFound(() => coupler.get(pair))).toBe(1);
      expect(await notFound(() => coupler.history(pair))).toBe(1);
    }
    const half = { userId: progressOnly, specialization: "PLAYER" };
    expect(await roundTrips(() => coupler.validate(half))).toBe(1);
    expect(await notFound(() => coupler.get(half))).toBe(1);
    expect(await notFound(() => coupler.history(half))).toBe(1);
  });
});
