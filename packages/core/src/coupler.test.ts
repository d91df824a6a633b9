import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ProgressLicenseCoupler } from "./coupler.ts";
import { createCoupler, createUsers, enrolledUsers } from "./testing/fixtures.ts";
import type { TestDatabase } from "./testing/testDatabase.ts";
import { useTestDatabase } from "./testing/vitest.ts";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase();
  coupler = createCoupler(database);
});
afterAll(() => database.drop());

describe("enroll", () => {
  it("creates both rows at level 1 together", async () => {
    const [id = 0] = await createUsers(database, 1);
    const result = await coupler.enroll(id, "PLAYER");
    expect(result.created).toBe(true);
    expect(result.progress).toMatchObject({ currentLevel: 1, totalXp: 0, completedSessions: 0 });
    expect(result.license).toMatchObject({ currentLevel: 1, maxAchievedLevel: 1 });
  });

  it("is idempotent: a second enroll changes nothing", async () => {
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    const again = await coupler.enroll(id, "PLAYER");
    expect(again.created).toBe(false);
  });
});

describe("levelUpAtomic", () => {
  it("updates progress and license together and writes history", async () => {
    const [id = 0] = await enrolledUsers(database, coupler, 1);
    const result = await coupler.levelUpAtomic(id, "PLAYER", 350, 2);
    expect(result).toMatchObject({ previousLevel: 1, newLevel: 3, totalXp: 350, completedSessions: 2, leveledUp: true });
    const pair = await coupler.get(id, "PLAYER");
    expect(pair.progress.currentLevel).toBe(3);
    expect(pair.license.currentLevel).toBe(3);
    const history = await coupler.history(id, "PLAYER");
    expect(history.items.map((h) => [h.fromLevel, h.toLevel])).toEqual([[1, 3]]);
    const report = await coupler.validateConsistency(id, "PLAYER");
    expect(report.consistent).toBe(true);
  });
});
