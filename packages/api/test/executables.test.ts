import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

/*
 * Issue 17: `node packages/api/dist/main.js --help` (or `--bogus`) started the
 * server, `pnpm db:migrate --help` printed no usage, and `pnpm chaos --help`
 * listed flags without meanings or defaults. Every executable of the
 * repository answers --help with its usage and refuses an unknown flag with
 * one line on stderr and exit code 2, before it touches a database.
 */
const file = (path: string) => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const EXECUTABLES: [name: string, entry: string, aFlag: string][] = [
  ["the API (main)", file("api/src/main.ts"), "--stop-with-parent"],
  ["the token CLI", file("api/src/cli/token.ts"), "--expires"],
  ["db:migrate", file("core/src/cli/migrate.ts"), "--help"],
  ["pnpm chaos", file("chaos/src/cli.ts"), "--seed"],
  ["the probe CLI", file("chaos/src/probes/cli.ts"), "--only"],
  ["pnpm bench", file("bench/src/cli.ts"), "--duration"],
];

async function run(entry: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--conditions=source", "--import", "tsx", entry, ...args],
      {
        cwd: fileURLToPath(new URL("..", import.meta.url)),
        // No database anywhere: a CLI that tried to start would fail rather than pass by accident.
        env: { PATH: process.env.PATH ?? "", COUPLER_ENV_FILE: "", DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" },
        timeout: 60_000,
      },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("every executable", () => {
  for (const [name, entry, aFlag] of EXECUTABLES) {
    it(`${name} answers --help with its usage, naming its flags, and exit 0`, async () => {
      const { code, stdout } = await run(entry, ["--help"]);
      expect(code).toBe(0);
      expect(stdout).toMatch(/^usage: /im);
      expect(stdout).toContain(aFlag);
      expect(stdout).toContain("--help");
    });

    it(`${name} refuses an unknown flag with one line on stderr and exit code 2`, async () => {
      const { code, stdout, stderr } = await run(entry, ["--bogus-flag"]);
      expect(code).toBe(2);
      expect(stdout).toBe("");
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toContain("--bogus-flag");
      expect(stderr).toContain("--help");
    });
  }
});
