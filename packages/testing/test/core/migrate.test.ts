import { randomBytes } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import { createDatabase, migrate } from "@coupler/core";
import { adminQuery, withDatabase } from "@coupler/embedded";
import { useTestDatabase } from "../../src/vitest.ts";

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
    const adminUrl = inject("couplerAdminUrl");
    const name = `coupler_empty_${randomBytes(4).toString("hex")}`;
    await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
    try {
      const url = withDatabase(adminUrl, name);
      await migrate(url);
      await migrate(url);
      const database = createDatabase({ connectionString: url, max: 1 });
      try {
        const { rows } = await database.pool.query("select id from specializations order by id");
        expect(rows.map((r: { id: string }) => r.id)).toEqual(["COACH", "INTERNSHIP", "PLAYER"]);
      } finally {
        await database.close();
      }
    } finally {
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
