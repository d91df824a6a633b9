import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createDatabase } from "@coupler/core";
import { useTestDatabase, withEmptyDatabase } from "@coupler/testing/vitest";
import { runMain, startMain } from "./runMain.ts";

/*
 * Issue 24: migrations ran whenever the API started, with no way to turn that
 * off, so a rolling upgrade ran 0004 (every table rewritten under an exclusive
 * lock) from whichever new process started first. With migrations off at
 * start, the API refuses a schema older than it needs instead.
 */

/** Runs main.ts until it exits by itself; its exit code and stderr. */
async function runToExit(env: Record<string, string>, args: string[] = []) {
  const child = runMain(env, args);
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout.resume();
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, stderr };
}

async function tables(url: string): Promise<number> {
  const database = createDatabase({ connectionString: url, max: 1 });
  try {
    const { rows } = await database.pool.query<{ n: number }>(
      "select count(*)::int as n from information_schema.tables where table_schema in ('public', 'drizzle')",
    );
    return rows[0]?.n ?? -1;
  } finally {
    await database.close();
  }
}

const SECRET = randomBytes(32).toString("hex");

describe("the API executable with migrations off at start", () => {
  for (const [how, env, args] of [
    ["COUPLER_MIGRATE_ON_START=false", { COUPLER_MIGRATE_ON_START: "false" }, []],
    ["--no-migrate", {}, ["--no-migrate"]],
  ] as const) {
    it(`refuses an unmigrated database with ${how}: exits 1, names the pending migrations and the command, changes nothing`, async () => {
      await withEmptyDatabase(async (url) => {
        const { code, stderr } = await runToExit({ DATABASE_URL: url, AUTH_SECRET: SECRET, ...env }, [...args]);
        expect(code).toBe(1);
        expect(stderr).toContain("schema is older than this release needs");
        expect(stderr).toContain("0000_init");
        expect(stderr).toMatch(/0004_citus_ready: .*rewrites users.*MAINTENANCE WINDOW/);
        expect(stderr).toContain("pnpm db:migrate");
        expect(await tables(url)).toBe(0);
      });
    }, 60_000);
  }

  it("serves a database whose migrations are all applied", async () => {
    await using database = await useTestDatabase({ max: 1 });
    const main = await startMain({
      DATABASE_URL: database.url,
      AUTH_SECRET: SECRET,
      COUPLER_MIGRATE_ON_START: "false",
    });
    try {
      expect((await fetch(`${main.url}/readyz`)).status).toBe(200);
    } finally {
      main.child.kill("SIGTERM");
      expect(await main.exited).toEqual({ code: 0, signal: null });
    }
  }, 60_000);

  it("still migrates by default, as before", async () => {
    await withEmptyDatabase(async (url) => {
      const main = await startMain({ DATABASE_URL: url, AUTH_SECRET: SECRET });
      main.child.kill("SIGTERM");
      await main.exited;
      expect(await tables(url)).toBeGreaterThan(5);
    });
  }, 60_000);
});
