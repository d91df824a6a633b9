import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createUser } from "@coupler/core";
import { useTestDatabase } from "../../src/vitest.ts";

/*
 * Issue 24: deploy/README.md's rollback table stopped at 0003, and on a copy
 * of the database, after the documented rollback SQL, an older release's
 * `insert into users (name, email)` for a taken email returned INSERT 0 1:
 * 0004 dropped users_email_unique. This rehearses the documented rollback
 * across 0004, with the SQL taken from deploy/README.md itself.
 */

const README = readFileSync(new URL("../../../../deploy/README.md", import.meta.url), "utf8");

/** The ```sql block of deploy/README.md that contains `marker`, and the inline undo that follows it. */
function documentedSql(marker: string): { apply: string; undo: string } {
  const blocks = [...README.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  const apply = blocks.find((block) => block.includes(marker));
  const undo = /`(DROP TRIGGER coupler_rollback_user_email[^`]*)`/.exec(README)?.[1];
  if (!apply || !undo) throw new Error(`deploy/README.md has no rollback SQL for ${marker}`);
  return { apply: apply.replace(/^ {2}/gm, ""), undo };
}

const OLD_STYLE_INSERT = "insert into users (name, email) values ('Dup', 'one@example.com')";

describe("rolling back across migration 0004, as deploy/README.md documents it", () => {
  it("refuses a duplicate email from an older release's insert once the documented SQL ran, and undoes cleanly", async () => {
    await using database = await useTestDatabase({ max: 2 });
    const { pool } = database;
    const { apply, undo } = documentedSql("Rolling back across 0004");
    await createUser(pool, { name: "One", email: "one@example.com" });

    // Without it, the older release's insert gets in (what the issue saw), here inside a transaction rolled back.
    const client = await pool.connect();
    try {
      await client.query("begin");
      expect((await client.query(OLD_STYLE_INSERT)).rowCount).toBe(1);
      await client.query("rollback");
    } finally {
      client.release();
    }

    await pool.query(apply);
    await expect(pool.query(OLD_STYLE_INSERT)).rejects.toMatchObject({
      code: "23505",
      constraint: "user_emails_pkey",
    });
    const { rows: dups } = await pool.query("select id from users where email = 'one@example.com'");
    expect(dups).toHaveLength(1);

    // A new email still registers, and gets the user_emails row the newer code needs when rolled forward.
    const { rows: created } = await pool.query<{ id: string }>(
      "insert into users (name, email) values ('Two', 'two@example.com') returning id",
    );
    const { rows: emails } = await pool.query<{ user_id: string }>(
      "select user_id from user_emails where email = 'two@example.com'",
    );
    expect(emails).toEqual([{ user_id: created[0]?.id }]);

    // Rolling forward: the undo removes it, and the newer code refuses duplicates by itself again.
    await pool.query(undo);
    const { rows: left } = await pool.query(
      "select 1 from pg_trigger where tgname = 'coupler_rollback_user_email' union all select 1 from pg_proc where proname = 'coupler_rollback_user_email'",
    );
    expect(left).toHaveLength(0);
    await expect(createUser(pool, { name: "Two again", email: "two@example.com" })).rejects.toMatchObject({
      code: "CONFLICT",
    });
  });
});
