import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { levelForXp, type ProgressLicenseCoupler, type SpecializationRules } from "@coupler/core";
import { createCoupler, enrolledUser, pairRows, type TestDatabase } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";

let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase({ max: 4 });
  coupler = createCoupler(database);
});
afterAll(() => database.drop());

type Step = { kind: "levelUp"; xp: number } | { kind: "advance"; level: number };

const stepArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("levelUp" as const), xp: fc.integer({ min: 0, max: 3_000 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("advance" as const), level: fc.integer({ min: 1, max: 10 }) }),
  },
);

describe("the level curve through the coupler", () => {
  it("a level-up never lowers the level, never passes the maximum, follows the curve, and both rows agree after every step", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom("PLAYER", "COACH", "INTERNSHIP"),
        fc.array(stepArb, { minLength: 1, maxLength: 8 }),
        async (specialization, steps) => {
          const rules = (await coupler.catalogue.get(specialization)) as SpecializationRules;
          const userId = await enrolledUser(database, coupler, specialization);
          let level = 1;
          let totalXp = 0;
          for (const step of steps as Step[]) {
            if (step.kind === "advance") {
              level = Math.min(step.level, rules.maxLevel);
              await coupler.advance(
                { userId, specialization, newLevel: level, reason: "property" },
                { actor: "property" },
              );
            } else {
              const result = await coupler.levelUp({ userId, specialization, xpGained: step.xp, sessionsCompleted: 0 });
              totalXp += step.xp;
              expect(result.previousLevel).toBe(level);
              expect(result.newLevel).toBeGreaterThanOrEqual(level);
              expect(result.newLevel).toBeLessThanOrEqual(rules.maxLevel);
              expect(result.newLevel).toBe(Math.max(level, levelForXp(rules, totalXp)));
              level = result.newLevel;
            }
            expect(await pairRows(database, userId, specialization)).toMatchObject({
              progressLevel: level,
              licenseLevel: level,
              totalXp,
            });
          }
        },
      ),
      { numRuns: 25 },
    );
  });
});
