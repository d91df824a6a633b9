import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "../../src/vitest.ts";
import { CITUS_LAYOUT, couplerOnCitus } from "@coupler/core";
import { checkCitusRules, type CitusLayout, type TestDatabase } from "../../src/index.ts";

/**
 * The Citus plan (SCALING.md, CITUS_LAYOUT in core, which `pnpm db:migrate
 * --citus` applies): every per-learner table is distributed by the learner's
 * user id and co-located, `user_emails` by email, the catalogue and the guard
 * switch are reference tables. This keeps a later migration from breaking the
 * plan silently; test/citus/ checks it on a real cluster.
 */
const LAYOUT: CitusLayout = {
  distributed: Object.fromEntries([...CITUS_LAYOUT.distributed, CITUS_LAYOUT.byEmail]),
  reference: [...CITUS_LAYOUT.reference],
};

let database: TestDatabase;
beforeAll(async () => {
  database = await useTestDatabase({ max: 2 });
});
afterAll(() => database.drop());

describe("Citus co-location rules", () => {
  it("every key of the migrated schema includes its table's distribution column, with no exception", async () => {
    expect(await checkCitusRules(database.pool, LAYOUT)).toEqual([]);
  });

  it("couplerOnCitus says plain PostgreSQL here, so the coupler keeps its array-shaped batch writes", async () => {
    expect(await couplerOnCitus(database.pool)).toBe(false);
  });

  it("every table of the schema is placed: distributed or reference", async () => {
    const { rows } = await database.pool.query<{ table: string }>(
      "select table_name as table from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by 1",
    );
    const placed = [...Object.keys(LAYOUT.distributed), ...LAYOUT.reference].sort();
    expect(rows.map((r) => r.table)).toEqual(placed);
  });

  it("the foreign keys between distributed tables pair the distribution columns (history → license, progress ↔ license)", async () => {
    const { rows } = await database.pool.query<{ name: string; def: string }>(
      `select conname as name, pg_get_constraintdef(oid) as def from pg_constraint
       where conname in ('license_progressions_license_fkey', 'specialization_progress_license_fkey', 'user_licenses_progress_fkey') order by 1`,
    );
    expect(rows).toEqual([
      {
        name: "license_progressions_license_fkey",
        def: "FOREIGN KEY (user_id, user_license_id) REFERENCES user_licenses(user_id, id) ON DELETE CASCADE",
      },
      {
        name: "specialization_progress_license_fkey",
        def: "FOREIGN KEY (student_id, specialization_id) REFERENCES user_licenses(user_id, specialization_type) DEFERRABLE INITIALLY DEFERRED",
      },
      {
        name: "user_licenses_progress_fkey",
        def: "FOREIGN KEY (user_id, specialization_type) REFERENCES specialization_progress(student_id, specialization_id) DEFERRABLE INITIALLY DEFERRED",
      },
    ]);
  });

  it("reports a table that breaks each rule (the check can fail)", async () => {
    const client = await database.pool.connect();
    try {
      await client.query("begin");
      await client.query(`
        create table bad_parent (id int primary key, user_id int not null, code text unique, unique (user_id, id));
        create table bad_child (id int primary key, user_id int not null, parent_id int references bad_parent (id));
        create unique index bad_child_code_idx on bad_child (id, parent_id);
        create table bad_lookup (id int primary key);
        alter table bad_child add column lookup_id int references bad_lookup (id);
        create table bad_reference (id int primary key, parent_user int, parent_id int,
          foreign key (parent_user, parent_id) references bad_parent (user_id, id));`);
      const violations = await checkCitusRules(client, {
        distributed: { bad_parent: "user_id", bad_child: "user_id", bad_missing: "user_id" },
        reference: ["bad_reference"],
      });
      const found = violations
        .filter((v) => v.table.startsWith("bad_"))
        .map((v) => `${v.table} ${v.constraint}: ${v.rule}`)
        .sort();
      expect(found).toEqual([
        "bad_child bad_child_code_idx: unique index (id, parent_id) lacks the distribution column user_id",
        "bad_child bad_child_lookup_id_fkey: foreign key to bad_lookup, which is neither distributed nor a reference table",
        "bad_child bad_child_parent_id_fkey: foreign key to distributed bad_parent must map user_id to user_id",
        "bad_child bad_child_pkey: primary key (id) lacks the distribution column user_id",
        "bad_missing -: distributed table does not exist",
        "bad_parent bad_parent_code_key: unique constraint (code) lacks the distribution column user_id",
        "bad_parent bad_parent_pkey: primary key (id) lacks the distribution column user_id",
        "bad_reference bad_reference_parent_user_parent_id_fkey: foreign key from a non-distributed table to distributed bad_parent",
      ]);
    } finally {
      await client.query("rollback");
      client.release();
    }
  });
});
