import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Catalogue, levelForXp, type SpecializationRules, SPECIALIZATIONS } from "@coupler/core";
import type { TestDatabase } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

let database: TestDatabase;
let catalogue: SpecializationRules[];

beforeAll(async () => {
  database = await useTestDatabase({ max: 2 });
  catalogue = await new Catalogue(database.db).all();
});
afterAll(() => database.drop());

const STEPS: Record<string, number> = { PLAYER: 100, COACH: 150, INTERNSHIP: 200 };
const MAX_LEVELS: Record<string, number> = { PLAYER: 10, COACH: 8, INTERNSHIP: 5 };

describe("specialization catalogue", () => {
  it("the SPECIALIZATIONS enum matches the specializations table", async () => {
    const { rows } = await database.pool.query<{ id: string }>("select id from specializations order by id");
    expect(rows.map((r) => r.id)).toEqual([...SPECIALIZATIONS].sort());
  });

  it("holds every level's XP threshold, step * (L-1) * L / 2, up to each maximum", () => {
    expect(catalogue.map((r) => r.id).sort()).toEqual([...SPECIALIZATIONS].sort());
    for (const rules of catalogue) {
      const step = STEPS[rules.id] ?? 0;
      expect(rules.maxLevel).toBe(MAX_LEVELS[rules.id]);
      expect(rules.minXp).toEqual(Array.from({ length: rules.maxLevel }, (_, i) => (step * i * (i + 1)) / 2));
    }
  });
});

describe("levelForXp", () => {
  const rulesArb = () => fc.constantFrom(...catalogue);
  const xpArb = fc.integer({ min: 0, max: 2_000_000 });

  it("reaches level L exactly at its threshold (PLAYER: 0, 100, 300, 600, 1000)", () => {
    const player = catalogue.find((r) => r.id === "PLAYER");
    if (!player) throw new Error("PLAYER is missing from the catalogue");
    expect([0, 99, 100, 299, 300, 599, 600, 1000].map((xp) => levelForXp(player, xp))).toEqual([
      1, 1, 2, 2, 3, 3, 4, 5,
    ]);
  });

  it("is monotone in XP", () => {
    fc.assert(
      fc.property(rulesArb(), xpArb, xpArb, (rules, a, b) => {
        const [low, high] = a <= b ? [a, b] : [b, a];
        return levelForXp(rules, low) <= levelForXp(rules, high);
      }),
    );
  });

  it("never exceeds the specialization's maximum, whatever the XP or floor", () => {
    fc.assert(
      fc.property(
        rulesArb(),
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.integer({ min: 1, max: 50 }),
        (rules, xp, floor) => {
          const level = levelForXp(rules, xp, floor);
          return level >= 1 && level <= rules.maxLevel;
        },
      ),
    );
  });

  it("never goes below the floor when the floor is a valid level", () => {
    fc.assert(
      fc.property(rulesArb(), xpArb, fc.integer({ min: 1, max: 10 }), (rules, xp, rawFloor) => {
        const floor = Math.min(rawFloor, rules.maxLevel);
        return levelForXp(rules, xp, floor) >= floor;
      }),
    );
  });

  it("earns the highest level whose threshold the XP has reached", () => {
    fc.assert(
      fc.property(rulesArb(), xpArb, (rules, xp) => {
        const level = levelForXp(rules, xp);
        const reached = (rules.minXp[level - 1] ?? Infinity) <= xp;
        const next = rules.minXp[level];
        return reached && (level === rules.maxLevel || next === undefined || xp < next);
      }),
    );
  });
});
