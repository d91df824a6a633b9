import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Catalogue, putTrack } from "@coupler/core";
import { backendPid, createCoupler, enrolledUser, waitForLockWaiters } from "@coupler/testing";
import { ADMIN_ID, expectTRPCError, startTestApi, type TestApi } from "./harness.ts";

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

const curve = (...minXp: number[]) => minXp.map((xp, i) => ({ level: i + 1, minXp: xp }));

/** The catalogue tables as text, to assert a refused change wrote nothing. */
async function catalogueRows(): Promise<string> {
  const { rows } = await api.database.pool.query<{ rows: string }>(`
    select (select string_agg(s::text, '|' order by id) from specializations s)
      || '/' || (select string_agg(l::text, '|' order by specialization_id, level) from specialization_levels l) as rows`);
  return rows[0]?.rows ?? "";
}

async function getCatalogue(role: "student" | "admin" = "student") {
  const res = await fetch(`${api.url}/api/catalogue`, {
    headers: { authorization: `Bearer ${await api.token(role, 3)}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as {
    specializations: { id: string; name: string; maxLevel: number; levels: { level: number; minXp: number }[] }[];
  };
}

/** progression.levelUp through the typed client, as an instructor. */
async function award(userId: number, specialization: string, xpGained: number) {
  const instructor = await api.client("instructor");
  return instructor.progression.levelUp.mutate({ userId, specialization, xpGained, sessionsCompleted: 1 });
}

async function newLearnerIn(specialization: string): Promise<number> {
  const admin = await api.client("admin");
  const { id } = await admin.users.create.mutate({
    name: "Track Learner",
    email: `track-${specialization.toLowerCase()}-${Math.random().toString(36).slice(2)}@example.test`,
  });
  await admin.progression.enroll.mutate({ userId: id, specialization });
  return id;
}

describe("tracks as data", () => {
  it("a track created through the API is usable at once by levelUp through the typed client, and its curve appears in the catalogue endpoint", async () => {
    const admin = await api.client("admin");
    const instructor = await api.client("instructor");
    const created = await admin.admin.putTrack.mutate({ id: "MENTOR", name: "Mentor", levels: curve(0, 50, 120, 250) });
    expect(created).toEqual({ id: "MENTOR", name: "Mentor", maxLevel: 4, levels: curve(0, 50, 120, 250) });

    const learner = await newLearnerIn("MENTOR");
    const result = await award(learner, "MENTOR", 130);
    expect(result).toMatchObject({ previousLevel: 1, newLevel: 3, totalXp: 130, leveledUp: true });
    const capped = await award(learner, "MENTOR", 10_000);
    expect(capped.newLevel).toBe(4);

    const listed = (await getCatalogue()).specializations.find((t) => t.id === "MENTOR");
    expect(listed).toEqual({ id: "MENTOR", name: "Mentor", maxLevel: 4, levels: curve(0, 50, 120, 250) });
    const viaTrpc = await instructor.catalogue.query();
    expect(viaTrpc.specializations.find((t) => t.id === "MENTOR")).toEqual(listed);
  });

  it("lists the seed's three tracks first, with their curves (step * (L-1) * L / 2) and caps", async () => {
    const { specializations } = await getCatalogue();
    expect(specializations.slice(0, 3).map((t) => [t.id, t.maxLevel])).toEqual([
      ["PLAYER", 10],
      ["COACH", 8],
      ["INTERNSHIP", 5],
    ]);
    const player = specializations[0];
    expect(player?.levels.slice(0, 5)).toEqual(curve(0, 100, 300, 600, 1000));
    expect(player?.levels).toHaveLength(10);
  });

  it.each([
    ["levels that skip one", curve(0, 100).concat({ level: 4, minXp: 500 }), "levels.2.level"],
    ["level 1 above 0 XP", curve(10, 100), "levels.0.minXp"],
    ["thresholds that do not strictly increase", curve(0, 100, 100), "levels.2.minXp"],
    ["no levels at all", [], "levels"],
    [
      "a negative threshold",
      [
        { level: 1, minXp: 0 },
        { level: 2, minXp: -5 },
      ],
      "levels.1.minXp",
    ],
  ])("refuses %s with VALIDATION naming the field, and writes nothing", async (_what, levels, field) => {
    const admin = await api.client("admin");
    const before = await catalogueRows();
    const data = await expectTRPCError(
      admin.admin.putTrack.mutate({ id: "PLAYER", name: "Broken", levels }),
      "BAD_REQUEST",
    );
    expect(data.couplerCode).toBe("VALIDATION");
    expect((data.issues as { path: string }[]).map((i) => i.path)).toEqual([field]);
    expect(await catalogueRows()).toBe(before);
  });

  it("refuses a malformed track id with VALIDATION (lower case, spaces, too long)", async () => {
    const admin = await api.client("admin");
    for (const id of ["mentor", "TWO WORDS", `T${"X".repeat(64)}`]) {
      const data = await expectTRPCError(
        admin.admin.putTrack.mutate({ id, name: "x", levels: curve(0) }),
        "BAD_REQUEST",
      );
      expect(data.issues).toEqual([expect.objectContaining({ path: "id" })]);
    }
  });

  it("lets only admins change the catalogue, and any signed-in caller read it", async () => {
    for (const role of ["student", "instructor"] as const) {
      const client = await api.client(role, 3);
      const data = await expectTRPCError(
        client.admin.putTrack.mutate({ id: "SNEAKY", name: "x", levels: curve(0) }),
        "FORBIDDEN",
      );
      expect(data.couplerCode).toBe("FORBIDDEN");
      await expectTRPCError(client.admin.removeTrack.mutate({ id: "PLAYER" }), "FORBIDDEN");
    }
    const anonymous = await fetch(`${api.url}/api/catalogue`);
    expect(anonymous.status).toBe(401);
  });

  it("refuses to remove a track while a learner is enrolled (CONFLICT, not retryable), and removes it once nobody is", async () => {
    const admin = await api.client("admin");
    await admin.admin.putTrack.mutate({ id: "SCOUT", name: "Scout", levels: curve(0, 10) });
    const learner = await newLearnerIn("SCOUT");
    const before = await catalogueRows();
    const data = await expectTRPCError(admin.admin.removeTrack.mutate({ id: "SCOUT" }), "CONFLICT");
    expect(data).toMatchObject({ couplerCode: "CONFLICT", retryable: false });
    expect(data.message).toContain("enrolled");
    expect(await catalogueRows()).toBe(before);

    await api.database.pool.query("delete from users where id = $1", [learner]); // cascades to both halves
    expect(await admin.admin.removeTrack.mutate({ id: "SCOUT" })).toEqual({
      id: "SCOUT",
      name: "Scout",
      maxLevel: 2,
      levels: curve(0, 10),
    });
    expect((await getCatalogue()).specializations.map((t) => t.id)).not.toContain("SCOUT");
    const instructor = await api.client("instructor");
    const gone = await expectTRPCError(
      instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "SCOUT",
        xpGained: 1,
        sessionsCompleted: 0,
      }),
      "BAD_REQUEST",
    );
    expect(gone.issues).toEqual([
      { path: "specialization", message: expect.stringContaining("must be one of PLAYER") },
    ]);
    await expectTRPCError(admin.admin.removeTrack.mutate({ id: "SCOUT" }), "NOT_FOUND");
  });

  it("refuses to lower the cap below an enrolled learner's level, and keeps learners' levels when thresholds change", async () => {
    const admin = await api.client("admin");
    await admin.admin.putTrack.mutate({ id: "RANGER", name: "Ranger", levels: curve(0, 10, 20, 30) });
    const learner = await newLearnerIn("RANGER");
    await award(learner, "RANGER", 25);

    const before = await catalogueRows();
    const data = await expectTRPCError(
      admin.admin.putTrack.mutate({ id: "RANGER", name: "Ranger", levels: curve(0, 10) }),
      "CONFLICT",
    );
    expect(data).toMatchObject({ couplerCode: "CONFLICT", retryable: false });
    expect(data.message).toContain("cannot lower RANGER's maximum level to 2");
    expect(await catalogueRows()).toBe(before);

    // Steeper thresholds and a higher cap: the learner keeps level 3 (a level-up never demotes).
    await admin.admin.putTrack.mutate({ id: "RANGER", name: "Ranger II", levels: curve(0, 100, 200, 300, 400) });
    const after = await award(learner, "RANGER", 1);
    expect(after).toMatchObject({ previousLevel: 3, newLevel: 3, totalXp: 26 });
    const bigger = await award(learner, "RANGER", 400);
    expect(bigger.newLevel).toBe(5);
  });
});

describe("catalogue changes seen by other processes", () => {
  it("finds a track another process created at once, and a changed curve within maxAgeMs", async () => {
    const other = new Catalogue(api.database.db, { maxAgeMs: 300, missRetryMs: 0 });
    expect(await other.get("PLAYER")).toBeDefined();
    await putTrack(api.database.pool, { id: "PILOT", name: "Pilot", levels: curve(0, 40) });
    expect((await other.get("PILOT"))?.minXp).toEqual([0, 40]); // a miss re-reads

    await putTrack(api.database.pool, { id: "PILOT", name: "Pilot", levels: curve(0, 80, 90) });
    const committedAt = performance.now();
    let seen = await other.get("PILOT");
    while (seen?.maxLevel !== 3) {
      expect(performance.now() - committedAt).toBeLessThan(300 + 1000); // maxAgeMs plus one read on a busy box
      await new Promise((resolve) => setTimeout(resolve, 20));
      seen = await other.get("PILOT");
    }
    expect(seen.minXp).toEqual([0, 80, 90]);
  });
});

describe("a curve change under load", () => {
  it("does not block level-ups: they commit while putTrack waits holding the track's catalogue rows", async () => {
    const admin = await api.client("admin");
    await admin.admin.putTrack.mutate({ id: "DIVER", name: "Diver", levels: curve(0, 10, 20, 30, 40) });
    const coupler = createCoupler(api.database);
    const learners = [
      await enrolledUser(api.database, coupler, "DIVER"),
      await enrolledUser(api.database, coupler, "DIVER"),
    ];
    // A blocker holds level 5's row, so putTrack stops there holding the specializations row and levels 1-4.
    const blocker = await api.database.pool.connect();
    try {
      await blocker.query("begin");
      await blocker.query(
        "select 1 from specialization_levels where specialization_id = 'DIVER' and level = 5 for update",
      );
      const put = putTrack(
        api.database.pool,
        { id: "DIVER", name: "Diver", levels: curve(0, 11, 21, 31, 41) },
        {
          lockTimeoutMs: 60_000, // it waits on the blocker by design; a busy box must not time it out
        },
      );
      // On Citus the wait is on the reference table's placements, which waitForLockWaiters also sees.
      const waiting = { blockedBy: backendPid(blocker) };
      await waitForLockWaiters(api.database, waiting);
      // Level-ups cross the levels putTrack has locked, and commit while it still waits.
      const results = await Promise.all(
        learners.map((userId) =>
          coupler.levelUp(
            { userId, specialization: "DIVER", xpGained: 35, sessionsCompleted: 1 },
            { actor: `admin:${ADMIN_ID}` },
          ),
        ),
      );
      expect(results.map((r) => r.newLevel)).toEqual([4, 4]);
      // putTrack was still waiting all along (one look: it throws if nobody waits on the blocker).
      expect(await waitForLockWaiters(api.database, { ...waiting, timeoutMs: 0 })).not.toHaveLength(0);
      await blocker.query("commit");
      expect((await put).levels.map((l) => l.minXp)).toEqual([0, 11, 21, 31, 41]);
    } finally {
      await blocker.query("rollback").catch(() => {});
      blocker.release();
    }
  });
});
