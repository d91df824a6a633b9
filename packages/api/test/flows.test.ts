import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { levelForXp, SPECIALIZATIONS } from "@coupler/core";
import {
  auditRows,
  COMBINING_MODES,
  enrolledUser,
  createCoupler,
  historySteps,
  pairRows,
  rawTransaction,
  snapshotTables,
} from "@coupler/testing";
import { resolveServerSettings } from "../src/config.ts";
import { ADMIN_ID, INSTRUCTOR_ID, expectTRPCError, startTestApi, type TestApi } from "./harness.ts";

const PLAYER = { id: "PLAYER", maxLevel: 10, minXp: Array.from({ length: 10 }, (_, i) => (100 * i * (i + 1)) / 2) };

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

async function newLearner(): Promise<number> {
  return enrolledUser(api.database, createCoupler(api.database));
}

describe("the seed's integration flows over HTTP", () => {
  it("levels a learner up end to end: create, enroll, award XP, read, validate and page through the history", async () => {
    expect(SPECIALIZATIONS).toContain("PLAYER");
    const admin = await api.client("admin");
    const instructor = await api.client("instructor");
    const { id } = await admin.users.create.mutate({ name: "Flow Learner", email: "flow@example.test" });
    const enrolled = await admin.progression.enroll.mutate({ userId: id, specialization: "PLAYER" });
    expect(enrolled).toMatchObject({ created: true, progress: { currentLevel: 1 }, license: { currentLevel: 1 } });
    expect(typeof enrolled.progress.updatedAt).toBe("string");

    const first = await instructor.progression.levelUp.mutate({
      userId: id,
      specialization: "PLAYER",
      xpGained: 350,
      sessionsCompleted: 2,
    });
    expect(first).toMatchObject({ previousLevel: 1, newLevel: 3, totalXp: 350, leveledUp: true, replayed: false });
    const second = await instructor.progression.levelUp.mutate({
      userId: id,
      specialization: "PLAYER",
      xpGained: 20,
      sessionsCompleted: 1,
    });
    expect(second).toMatchObject({
      previousLevel: 3,
      newLevel: 3,
      totalXp: 370,
      completedSessions: 3,
      leveledUp: false,
    });
    await instructor.progression.levelUp.mutate({
      userId: id,
      specialization: "PLAYER",
      xpGained: 300,
      sessionsCompleted: 1,
    });

    const student = await api.client("student", id);
    const pair = await student.progression.get.query({ userId: id, specialization: "PLAYER" });
    expect(pair.progress).toMatchObject({ currentLevel: 4, totalXp: 670, completedSessions: 4 });
    expect(pair.license).toMatchObject({ currentLevel: 4, maxAchievedLevel: 4 });
    expect(await student.progression.validate.query({ userId: id, specialization: "PLAYER" })).toMatchObject({
      consistent: true,
      issues: [],
    });

    const page1 = await student.progression.history.query({ userId: id, specialization: "PLAYER", limit: 1 });
    expect(page1.items).toMatchObject([
      { fromLevel: 3, toLevel: 4, reason: "level-up", actor: `instructor:${INSTRUCTOR_ID}` },
    ]);
    expect(page1.nextCursor).not.toBeNull();
    const page2 = await student.progression.history.query({
      userId: id,
      specialization: "PLAYER",
      limit: 1,
      cursor: page1.nextCursor ?? undefined,
    });
    expect(page2).toMatchObject({ items: [{ fromLevel: 1, toLevel: 3 }], nextCursor: null });
  });

  it("advances a learner as an admin, with the reason and the admin as actor in the history and the audit log", async () => {
    const id = await newLearner();
    const admin = await api.client("admin");
    const result = await admin.progression.advance.mutate({
      userId: id,
      specialization: "PLAYER",
      newLevel: 5,
      reason: "passed the level-5 assessment",
    });
    expect(result).toMatchObject({ previousLevel: 1, newLevel: 5, maxAchievedLevel: 5, changed: true });
    expect(await pairRows(api.database, id)).toMatchObject({ progressLevel: 5, licenseLevel: 5, maxAchievedLevel: 5 });
    const history = await admin.progression.history.query({ userId: id, specialization: "PLAYER" });
    expect(history.items).toMatchObject([
      { fromLevel: 1, toLevel: 5, reason: "passed the level-5 assessment", actor: `admin:${ADMIN_ID}` },
    ]);
    expect((await auditRows(api.database, id)).at(-1)).toMatchObject({
      operation: "advance",
      outcome: "applied",
      to_level: 5,
    });

    const before = await snapshotTables(api.database);
    const error = await expectTRPCError(
      admin.progression.advance.mutate({ userId: id, specialization: "PLAYER", newLevel: 11, reason: "too far" }),
      "BAD_REQUEST",
    );
    expect(error).toMatchObject({ couplerCode: "VALIDATION", issues: [{ path: "newLevel" }] });
    expect(await snapshotTables(api.database)).toEqual(before);
  });

  it("repairs a pair desynced behind the coupler's back with sync, after which the guard can be switched on", async () => {
    const id = await newLearner();
    const admin = await api.client("admin");
    await admin.admin.setGuard.mutate({ enabled: false });
    // A legacy writer raised the progress level and never touched the license.
    await rawTransaction(api.database, [
      ["update specialization_progress set current_level = 4, total_xp = 600 where student_id = $1", [id]],
    ]);

    const report = await admin.progression.validate.query({ userId: id, specialization: "PLAYER" });
    expect(report.consistent).toBe(false);
    expect(report.issues.map((i) => i.code)).toEqual(["LEVEL_MISMATCH"]);
    expect((await admin.admin.integrity.query()).desynced.count).toBe(1);
    const refused = await expectTRPCError(admin.admin.setGuard.mutate({ enabled: true }), "CONFLICT");
    expect(refused).toMatchObject({ couplerCode: "CONFLICT", retryable: false });

    const sync = await admin.progression.sync.mutate({ userId: id, specialization: "PLAYER", source: "progress" });
    expect(sync).toMatchObject({ progressLevel: 4, licenseLevel: 1, level: 4, changed: true });
    expect(await admin.progression.validate.query({ userId: id, specialization: "PLAYER" })).toMatchObject({
      consistent: true,
    });
    expect(
      await admin.progression.sync.mutate({ userId: id, specialization: "PLAYER", source: "progress" }),
    ).toMatchObject({ changed: false });
    expect((await admin.admin.integrity.query()).violations).toBe(0);
    expect(await admin.admin.setGuard.mutate({ enabled: true })).toMatchObject({
      enabled: true,
      changedBy: `admin:${ADMIN_ID}`,
    });
    expect(await admin.admin.guard.query()).toMatchObject({ enabled: true });
  });
});

describe("idempotent level-ups over HTTP", () => {
  it("answers a retry with the same key exactly as the first call and applies it once", async () => {
    const id = await newLearner();
    const instructor = await api.client("instructor");
    const call = {
      userId: id,
      specialization: "PLAYER" as const,
      xpGained: 120,
      sessionsCompleted: 1,
      idempotencyKey: `session-${id}-0001`,
    };
    const first = await instructor.progression.levelUp.mutate(call);
    const retry = await instructor.progression.levelUp.mutate(call);
    expect(first.replayed).toBe(false);
    expect(retry).toEqual({ ...first, replayed: true });
    expect(await pairRows(api.database, id)).toMatchObject({
      totalXp: 120,
      completedSessions: 1,
      progressLevel: 2,
      licenseLevel: 2,
    });
    expect((await auditRows(api.database, id)).filter((r) => r.operation === "levelUp")).toHaveLength(1);
  });

  it("applies simultaneous retries with one key once and gives them all the same answer", async () => {
    const id = await newLearner();
    const instructor = await api.client("instructor", INSTRUCTOR_ID, { batch: false });
    const call = {
      userId: id,
      specialization: "PLAYER" as const,
      xpGained: 40,
      sessionsCompleted: 1,
      idempotencyKey: `burst-${id}-key`,
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => instructor.progression.levelUp.mutate(call)));
    expect(new Set(results.map((r) => r.totalXp))).toEqual(new Set([40]));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(await pairRows(api.database, id)).toMatchObject({ totalXp: 40, completedSessions: 1 });
  });

  it('takes short keys such as "k1" and a session id "4411" through the typed client (regression: refused as under 8 characters)', async () => {
    const id = await newLearner();
    const instructor = await api.client("instructor");
    for (const idempotencyKey of ["k1", "4411"]) {
      const call = {
        userId: id,
        specialization: "PLAYER" as const,
        xpGained: 10,
        sessionsCompleted: 1,
        idempotencyKey,
      };
      expect(await instructor.progression.levelUp.mutate(call)).toMatchObject({ replayed: false });
      expect(await instructor.progression.levelUp.mutate(call)).toMatchObject({ replayed: true });
    }
    expect(await pairRows(api.database, id)).toMatchObject({ totalXp: 20, completedSessions: 2 });
  });

  it("applies the same key and body again for another caller: a key is scoped to (learner, specialization, caller)", async () => {
    const id = await newLearner();
    const call = {
      userId: id,
      specialization: "PLAYER" as const,
      xpGained: 40,
      sessionsCompleted: 1,
      idempotencyKey: "k1",
    };
    const first = await (await api.client("instructor", INSTRUCTOR_ID)).progression.levelUp.mutate(call);
    const other = await (await api.client("instructor", INSTRUCTOR_ID + 1)).progression.levelUp.mutate(call);
    expect([first.replayed, other.replayed]).toEqual([false, false]);
    expect(other.totalXp).toBe(80);
  });

  it("refuses the same key with a different payload and writes nothing", async () => {
    const id = await newLearner();
    const instructor = await api.client("instructor");
    const key = `reused-${id}-key`;
    await instructor.progression.levelUp.mutate({
      userId: id,
      specialization: "PLAYER",
      xpGained: 50,
      sessionsCompleted: 1,
      idempotencyKey: key,
    });
    const before = await snapshotTables(api.database);
    const error = await expectTRPCError(
      instructor.progression.levelUp.mutate({
        userId: id,
        specialization: "PLAYER",
        xpGained: 500,
        sessionsCompleted: 1,
        idempotencyKey: key,
      }),
      "BAD_REQUEST",
    );
    expect(error).toMatchObject({ couplerCode: "VALIDATION", issues: [{ path: "idempotencyKey" }] });
    expect(await snapshotTables(api.database)).toEqual(before);
  });
});

/** Calls the server's coupler counted as waiting for their pair, by cause (see `OperationEvent.contention`). */
async function contentionOf(served: TestApi, cause: "row_lock" | "queue"): Promise<number> {
  const { values } = await served.server.metrics.contention.get();
  return values.find((v) => v.labels.operation === "levelUp" && v.labels.cause === cause)?.value ?? 0;
}

// With write combining off each call is a transaction of its own and they meet at the pair's row locks
// (as with several API processes); on, they queue in memory and share transactions.
describe.each(COMBINING_MODES)("concurrent level-ups over HTTP, write combining $mode", ({ mode, combining }) => {
  let served: TestApi;
  beforeAll(async () => {
    served = await startTestApi({
      database: api.database,
      combining: { ...resolveServerSettings({}).combining, ...combining },
    });
  });
  afterAll(() => served.close());

  it("applies 50 concurrent level-ups on one learner exactly: total XP, levels in step, contiguous history", async () => {
    expect(served.server.services.coupler.combining).toBe(combining.enabled);
    const id = await newLearner();
    const instructor = await served.client("instructor", INSTRUCTOR_ID, { batch: false });
    const awards = Array.from({ length: 50 }, (_, i) => 10 + (i % 7) * 5);
    const results = await Promise.all(
      awards.map((xpGained) =>
        instructor.progression.levelUp.mutate({ userId: id, specialization: "PLAYER", xpGained, sessionsCompleted: 1 }),
      ),
    );
    const total = awards.reduce((a, b) => a + b, 0);
    const level = levelForXp(PLAYER, total);
    expect(results).toHaveLength(50);
    expect(Math.max(...results.map((r) => r.totalXp))).toBe(total);
    expect(new Set(results.map((r) => r.totalXp)).size).toBe(50); // each call saw a distinct running total
    expect(await pairRows(api.database, id)).toMatchObject({
      totalXp: total,
      completedSessions: 50,
      progressLevel: level,
      licenseLevel: level,
    });
    const steps = await historySteps(api.database, id);
    steps.reduce((from, [stepFrom, to]) => {
      expect(stepFrom).toBe(from);
      return to;
    }, 1);
    expect(steps.at(-1)?.[1]).toBe(level);
    const admin = await served.client("admin");
    expect((await admin.admin.integrity.query()).desynced.count).toBe(0);
    // The calls overlapped, and met where this mode makes them meet: off, at PostgreSQL's row locks
    // (and never in memory); on, queued in memory behind the pair's transaction.
    if (mode === "off") {
      expect(await contentionOf(served, "row_lock")).toBeGreaterThan(0);
      expect(await contentionOf(served, "queue")).toBe(0);
    } else {
      expect(await contentionOf(served, "queue")).toBeGreaterThan(0);
    }
  });
});
