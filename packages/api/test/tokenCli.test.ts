import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { authenticate, secretKey } from "../src/auth.ts";
import { PACKAGE } from "./runMain.ts";

const TOKEN_CLI = fileURLToPath(new URL("../src/cli/token.ts", import.meta.url));
const secret = randomBytes(32).toString("hex");

/** Runs the token CLI with `args`; never rejects (a non-zero exit is in `code`). */
async function token(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--conditions=source", "--import", "tsx", TOKEN_CLI, ...args], {
      cwd: PACKAGE,
      env: { PATH: process.env.PATH ?? "", AUTH_SECRET: secret, COUPLER_ENV_FILE: "" },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("the token CLI", () => {
  it("prints exactly one line, a token the API accepts for that user and role", async () => {
    const { code, stdout, stderr } = await token("--sub", "7", "--role", "instructor", "--expires", "30m");
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const result = await authenticate(`Bearer ${stdout.trim()}`, secretKey(secret));
    expect(result).toMatchObject({ ok: true, principal: { userId: 7, role: "instructor" } });
  });

  it("explains itself on --help and exits 0", async () => {
    const { code, stdout } = await token("--help");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: token --sub <user id> --role student\|instructor\|admin/);
  });

  for (const args of [["--bogus"], ["--sub", "x", "--role", "admin"], ["--sub", "1", "--role", "root"], ["--sub", "1", "--role", "admin", "--expires", "soon"]]) {
    it(`refuses ${args.join(" ")} with one line on stderr, nothing on stdout, and exit code 2`, async () => {
      const { code, stdout, stderr } = await token(...args);
      expect(code).toBe(2);
      expect(stdout).toBe("");
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toMatch(/^token: /);
    });
  }
});
