import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { authenticate, secretKey } from "../src/auth.ts";
import { resolveAuthSecret } from "../src/devSecret.ts";
import { PACKAGE } from "./runMain.ts";

const TOKEN_CLI = fileURLToPath(new URL("../src/cli/token.ts", import.meta.url));
const secret = randomBytes(32).toString("hex");

/** Runs the token CLI with `args`; never rejects (a non-zero exit is in `code`). */
async function token(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return tokenWith({ AUTH_SECRET: secret }, ...args);
}

/** The token CLI with `env` instead of AUTH_SECRET. */
async function tokenWith(
  env: Record<string, string>,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--conditions=source", "--import", "tsx", TOKEN_CLI, ...args],
      {
        cwd: PACKAGE,
        env: { PATH: process.env.PATH ?? "", COUPLER_ENV_FILE: "", ...env },
      },
    );
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

  it("refuses a lifetime over the API's maximum (--expires 48h) with one line and exit 2, as the API would refuse the token", async () => {
    const { code, stdout, stderr } = await token("--sub", "1", "--role", "admin", "--expires", "48h");
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("token lifetime exceeds the 24h maximum");
  });

  it("accepts --expires in plain seconds, as AUTH_MAX_TOKEN_LIFETIME is written (regression: 86400 was 'Invalid time period format')", async () => {
    const { code, stdout } = await token("--sub", "1", "--role", "admin", "--expires", "86400");
    expect(code).toBe(0);
    const [, payload = ""] = stdout.trim().split(".");
    const { iat, exp } = JSON.parse(Buffer.from(payload, "base64url").toString()) as { iat: number; exp: number };
    expect(exp - iat).toBe(86400);
    expect(await authenticate(`Bearer ${stdout.trim()}`, secretKey(secret))).toMatchObject({ ok: true });
  });

  for (const expires of ["0s", "0", "1h ago"]) {
    it(`refuses --expires ${expires}, an already-expired token, with one line and exit 2 (regression: exit 0 with a dead token)`, async () => {
      const { code, stdout, stderr } = await token("--sub", "1", "--role", "admin", "--expires", expires);
      expect(code).toBe(2);
      expect(stdout).toBe("");
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toContain("must be more than 0 seconds");
    });
  }

  it("allows 48h when the API's AUTH_MAX_TOKEN_LIFETIME allows it", async () => {
    const { code, stdout } = await tokenWith(
      { AUTH_SECRET: secret, AUTH_MAX_TOKEN_LIFETIME: String(72 * 3600) },
      "--sub",
      "1",
      "--role",
      "admin",
      "--expires",
      "48h",
    );
    expect(code).toBe(0);
    expect(
      await authenticate(`Bearer ${stdout.trim()}`, secretKey(secret), { maxTokenLifetimeSeconds: 72 * 3600 }),
    ).toMatchObject({ ok: true });
  });

  it("signs with the development secret of the COUPLER_DATA_DIR it is given, and says so on stderr", async () => {
    const home = await mkdtemp(join(tmpdir(), "coupler-token-"));
    try {
      const dataDir = join(home, "pg");
      // What a `pnpm start` on that data dir left behind.
      const { secret: devSecret, source } = await resolveAuthSecret({ COUPLER_DATA_DIR: dataDir });
      const { code, stdout, stderr } = await tokenWith(
        { COUPLER_DATA_DIR: dataDir },
        "--sub",
        "3",
        "--role",
        "student",
      );
      expect(code).toBe(0);
      expect(stderr).toBe(`token: signed with the development secret in ${source} (AUTH_SECRET unset)\n`);
      expect(await authenticate(`Bearer ${stdout.trim()}`, secretKey(devSecret))).toMatchObject({
        ok: true,
        principal: { userId: 3 },
      });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it("resolves a relative COUPLER_DATA_DIR from an env file against the repository root, as pnpm start does, from its own working directory", async () => {
    // .env.example's own form (`COUPLER_DATA_DIR=.coupler-data/…`), under the gitignored .coupler-data at the root.
    const root = fileURLToPath(new URL("../../../", import.meta.url));
    // A fresh clone has no .coupler-data until the first `pnpm start` (regression: this test failed in CI's clean clone).
    const parent = join(root, ".coupler-data");
    const madeParent = !existsSync(parent);
    await mkdir(parent, { recursive: true });
    const home = await mkdtemp(join(parent, "token-test-"));
    try {
      const { secret: devSecret } = await resolveAuthSecret({ COUPLER_DATA_DIR: join(home, "pg") });
      const envFile = join(home, "test.env");
      await writeFile(envFile, `COUPLER_DATA_DIR=${relative(root, join(home, "pg"))}\n`);
      // cwd is packages/api, where `pnpm --filter @coupler/api token` runs (regression: "no development secret at .coupler-data/auth-secret").
      const { code, stdout, stderr } = await tokenWith(
        { COUPLER_ENV_FILE: envFile },
        "--sub",
        "3",
        "--role",
        "student",
      );
      expect(stderr).toBe(
        `token: signed with the development secret in ${join(home, "auth-secret")} (AUTH_SECRET unset)\n`,
      );
      expect(code).toBe(0);
      expect(await authenticate(`Bearer ${stdout.trim()}`, secretKey(devSecret))).toMatchObject({ ok: true });
    } finally {
      await rm(home, { recursive: true, force: true });
      // Only the directory this test made, and only while empty.
      if (madeParent) await rmdir(parent).catch(() => undefined);
    }
  });

  it("refuses to invent a secret no server knows: a data dir without one is one line and exit 2", async () => {
    const home = await mkdtemp(join(tmpdir(), "coupler-token-"));
    try {
      const { code, stdout, stderr } = await tokenWith(
        { COUPLER_DATA_DIR: join(home, "pg") },
        "--sub",
        "3",
        "--role",
        "student",
      );
      expect(code).toBe(2);
      expect(stdout).toBe("");
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toContain(join(home, "auth-secret"));
      expect(existsSync(join(home, "auth-secret"))).toBe(false);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  for (const args of [
    ["--bogus"],
    ["--sub", "x", "--role", "admin"],
    ["--sub", "1", "--role", "root"],
    ["--sub", "1", "--role", "admin", "--expires", "soon"],
  ]) {
    it(`refuses ${args.join(" ")} with one line on stderr, nothing on stdout, and exit code 2`, async () => {
      const { code, stdout, stderr } = await token(...args);
      expect(code).toBe(2);
      expect(stdout).toBe("");
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toMatch(/^token: /);
      if (args[0] === "--bogus")
        expect(stderr).toContain("(pnpm --silent --filter @coupler/api token --help for usage)");
    });
  }
});
