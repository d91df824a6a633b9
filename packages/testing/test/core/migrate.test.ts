import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MIGRATIONS_FOLDER, createDatabase, migrate } from "@coupler/core";
import pg from "pg";
import { useTestDatabase, withEmptyDatabase } from "../../src/vitest.ts";

describe("migrate", () => {
  it("is idempotent: running it again on a migrated database changes nothing", async () => {
    await using database = await useTestDatabase({ max: 1 });
    const count = async () =>
      (
        await database.pool.query<{ tables: number; specs: number; levels: number; guard: number }>(`
          select (select count(*)::int from information_schema.tables where table_schema = 'public') as tables,
                 (select count(*)::int from specializations) as specs,
                 (select count(*)::int from specialization_levels) as levels,
                 (select count(*)::int from coupling_guard) as guard`)
      ).rows[0];
    const before = await count();
    await migrate(database.url);
    await migrate(database.url);
    expect(await count()).toEqual(before);
    expect(before).toMatchObject({ specs: 3, levels: 23, guard: 1 });
  });

  it("migrates an empty database, twice in a row", async () => {
    await withEmptyDatabase(async (url) => {
      await migrate(url);
      await migrate(url);
      const database = createDatabase({ connectionString: url, max: 1 });
      try {
        const { rows } = await database.pool.query("select id from specializations order by id");
        expect(rows.map((r: { id: string }) => r.id)).toEqual(["COACH", "INTERNSHIP", "PLAYER"]);
      } finally {
        await database.close();
      }
    });
  });

  it("two concurrent migrate() calls on an empty database both succeed and apply each migration once", async () => {
    await withEmptyDatabase(async (url) => {
      const applied = await Promise.all([migrate(url), migrate(url)]);
      const journal = await journalEntries();
      expect(applied.sort()).toEqual([0, journal.length]);
      const rows = await query(url, "select hash from drizzle.__drizzle_migrations");
      expect(rows).toHaveLength(journal.length);
      expect(new Set(rows.map((r) => r["hash"])).size).toBe(journal.length);
    });
  });

  it("0002, 0003 and 0004 carry existing data over: history gets its learner, a stored key its caller, every email its user_emails row", async () => {
    await withEmptyDatabase(async (url) => {
      // The schema as of 0001, with a learner at level 2, one history step and a stored key.
      const before = await mkdtemp(join(tmpdir(), "coupler-migrations-"));
      try {
        await cp(MIGRATIONS_FOLDER, before, { recursive: true });
        const journal = JSON.parse(await readFile(join(before, "meta/_journal.json"), "utf8")) as {
          entries: { tag: string }[];
        };
        journal.entries = journal.entries.filter((e) => e.tag < "0002");
        await writeFile(join(before, "meta/_journal.json"), JSON.stringify(journal));
        expect(await migrate(url, { migrationsFolder: before })).toBe(2);
      } finally {
        await rm(before, { recursive: true, force: true });
      }
      await query(
        url,
        `
        insert into users (name, email) values ('Ada', 'ada@example.test'), ('Bo', 'bo@example.test');
        insert into specialization_progress (student_id, specialization_id, current_level, total_xp) values (2, 'PLAYER', 2, 150);
        insert into user_licenses (user_id, specialization_type, current_level, max_achieved_level) values (2, 'PLAYER', 2, 2);
        insert into license_progressions (user_license_id, from_level, to_level, reason, actor) values (1, 1, 2, 'level-up', 'instructor:9');
        insert into coupler_audit_log (operation, user_id, specialization_id, xp_delta, actor, idempotency_key, outcome)
          values ('levelUp', 2, 'PLAYER', 150, 'instructor:9', 'k-1', 'applied');
        insert into idempotency_keys (key, operation, user_id, specialization_id, request_hash, response)
          values ('k-1', 'levelUp', 2, 'PLAYER', 'h', '{}'), ('k-orphan', 'levelUp', 2, 'PLAYER', 'h', '{}');`,
      );
      expect(await migrate(url)).toBe((await journalEntries()).length - 2);
      const history = await query(
        url,
        "select user_id, user_license_id, from_level, to_level from license_progressions",
      );
      // bigint since 0004: pg returns int8 as a string.
      expect(history).toEqual([{ user_id: "2", user_license_id: "1", from_level: 1, to_level: 2 }]);
      const keys = await query(url, "select key, caller from idempotency_keys order by key");
      expect(keys).toEqual([
        { key: "k-1", caller: "instructor:9" },
        { key: "k-orphan", caller: "system" },
      ]);
      const audit = await query(url, "select user_id, id from coupler_audit_log");
      expect(audit).toEqual([{ user_id: "2", id: "1" }]);
      const emails = await query(url, "select email, user_id from user_emails order by email");
      expect(emails).toEqual([
        { email: "ada@example.test", user_id: "1" },
        { email: "bo@example.test", user_id: "2" },
      ]);
    });
  });
});

async function journalEntries(): Promise<unknown[]> {
  return (JSON.parse(await readFile(join(MIGRATIONS_FOLDER, "meta/_journal.json"), "utf8")) as { entries: unknown[] })
    .entries;
}

/** Rows of one query on its own connection. */
async function query(url: string, text: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}
