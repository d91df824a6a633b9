import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER, MIGRATION_IMPACT, describePendingMigrations, pendingMigrations } from "@coupler/core";
import { useTestDatabase, withEmptyDatabase } from "../../src/vitest.ts";

async function journalTags(): Promise<string[]> {
  const journal = JSON.parse(await readFile(join(MIGRATIONS_FOLDER, "meta/_journal.json"), "utf8")) as {
    entries: { tag: string }[];
  };
  return journal.entries.map((e) => e.tag);
}

describe("the migration plan", () => {
  it("states the impact of every committed migration, so a new one cannot ship without it", async () => {
    expect(Object.keys(MIGRATION_IMPACT).sort()).toEqual((await journalTags()).sort());
  });

  it("lists nothing pending on a migrated database", async () => {
    await using database = await useTestDatabase({ max: 1 });
    expect(await pendingMigrations(database.url, MIGRATIONS_FOLDER)).toEqual([]);
  });

  it("lists every migration on an empty database, and names 0004's rewrites, locks and maintenance window", async () => {
    await withEmptyDatabase(async (url) => {
      const pending = await pendingMigrations(url, MIGRATIONS_FOLDER);
      expect(pending.map((m) => m.tag)).toEqual(await journalTags());
      const lines = describePendingMigrations(pending);
      const line0004 = lines.find((l) => l.startsWith("0004_citus_ready"));
      expect(line0004).toContain("rewrites users, specialization_progress, user_licenses");
      expect(line0004).toContain("ACCESS EXCLUSIVE lock on users");
      expect(line0004).toContain("MAINTENANCE WINDOW");
      expect(lines.filter((l) => l.includes("MAINTENANCE WINDOW"))).toHaveLength(1);
    });
  });
});
