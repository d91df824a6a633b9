import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Catalogue } from "@coupler/core";
import type { TestDatabase } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

/** docs/guide/tracks.md's table of the seed's curves, held to the catalogue the migrations seed. */
const GUIDE = fileURLToPath(new URL("../../../../docs/guide/tracks.md", import.meta.url));

let database: TestDatabase;
beforeAll(async () => {
  database = await useTestDatabase();
});
afterAll(() => database.drop());

interface DocRow {
  id: string;
  step: number;
  cap: number;
  /** The XP thresholds the row spells out; "…" stands for the levels it skips, then the last one. */
  shown: number[];
  skips: boolean;
}

function docRows(): DocRow[] {
  const text = readFileSync(GUIDE, "utf8");
  const section = text.slice(text.indexOf("## The seed's curves"));
  return [...section.matchAll(/^\| `([A-Z_]+)` +\| (\d+) +\| (\d+) +\| ([^|]+)\|$/gm)].map((m) => {
    const [, id = "", step = "", cap = "", list = ""] = m;
    return {
      id,
      step: Number(step),
      cap: Number(cap),
      shown: list
        .split(/[,…]/)
        .map((x) => x.trim())
        .filter(Boolean)
        .map(Number),
      skips: list.includes("…"),
    };
  });
}

describe("the guide's table of the seed's curves", () => {
  it("names every seeded track with its cap, its step and thresholds the catalogue really holds", async () => {
    const rows = docRows();
    const tracks = await new Catalogue(database.db).all();
    expect(rows.map((r) => r.id).sort()).toEqual(tracks.map((t) => t.id).sort());
    for (const row of rows) {
      const track = tracks.find((t) => t.id === row.id);
      if (!track) throw new Error(`${row.id} is not in the catalogue`);
      expect(track.maxLevel, row.id).toBe(row.cap);
      // The formula the guide states: level L needs step × (L − 1) × L / 2.
      expect(track.minXp, row.id).toEqual(
        Array.from({ length: track.maxLevel }, (_, i) => (row.step * i * (i + 1)) / 2),
      );
      const expected = row.skips ? [...track.minXp.slice(0, row.shown.length - 1), track.minXp.at(-1)] : track.minXp;
      expect(row.shown, row.id).toEqual(expected);
    }
  });
});
