import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setGuard, type ProgressLicenseCoupler } from "@coupler/core";
import { createCoupler, enrolledUser, pairRows, rawTransaction, type TestDatabase } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

/**
 * A logical-replication apply worker (a Citus shard move's catch-up, a
 * logical replica) runs with an empty search_path. Every function Coupler
 * installs must still find its tables there: before migration 0005 the guard
 * failed with `relation "coupling_guard" does not exist` and the shard move
 * that fired it never finished.
 */
let database: TestDatabase;
let coupler: ProgressLicenseCoupler;

beforeAll(async () => {
  database = await useTestDatabase();
  coupler = createCoupler(database);
});
afterAll(() => database.drop());

const emptySearchPath: [string, unknown[]] = ["set local search_path = ''", []];

describe("Coupler's database functions under an empty search_path", () => {
  it("the coupling guard still reads its switch and the pair, and refuses a desync with its own error", async () => {
    const id = await enrolledUser(database, coupler);
    await setGuard(database.pool, true, "test");
    try {
      await expect(
        rawTransaction(database, [
          emptySearchPath,
          ["update public.specialization_progress set current_level = 3 where student_id = $1", [id]],
        ]),
      ).rejects.toMatchObject({ code: "23000", constraint: "coupling_guard" });
      await rawTransaction(database, [
        emptySearchPath,
        ["update public.specialization_progress set current_level = 2 where student_id = $1", [id]],
        ["update public.user_licenses set current_level = 2, max_achieved_level = 2 where user_id = $1", [id]],
      ]);
      expect(await pairRows(database, id)).toMatchObject({ progressLevel: 2, licenseLevel: 2 });
    } finally {
      await setGuard(database.pool, false, "test");
    }
  });

  it("the audit log stays append-only", async () => {
    const id = await enrolledUser(database, coupler);
    await expect(
      rawTransaction(database, [emptySearchPath, ["delete from public.coupler_audit_log where user_id = $1", [id]]]),
    ).rejects.toMatchObject({ code: "42501", message: expect.stringContaining("append-only") });
  });

  it("every function Coupler installs pins its search_path to the schema it was migrated into", async () => {
    const { rows } = await database.pool.query<{ name: string; config: string[] | null }>(
      `select proname as name, proconfig as config from pg_proc
       where pronamespace = current_schema()::regnamespace and proname like 'coupler\\_%' order by 1`,
    );
    expect(rows.map((r) => r.name)).toEqual(["coupler_audit_log_append_only", "coupler_coupling_guard"]);
    for (const row of rows) expect(row.config).toEqual(["search_path=pg_catalog, public"]);
  });
});
