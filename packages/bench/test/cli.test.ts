import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { findK6 } from "../src/k6.ts";
import { K6_NOT_FOUND_EXIT_CODE, K6NotFoundError } from "../src/K6NotFoundError.ts";
import { USAGE_EXIT_CODE } from "../src/parseBenchArgs.ts";

const PACKAGE = fileURLToPath(new URL("..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "bench-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `pnpm bench` as a user runs it, with exactly the environment given. */
function bench(args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, ["--conditions=source", "--import", "tsx", "src/cli.ts", ...args], {
    cwd: PACKAGE,
    env: { HOME: dir, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function fakeExecutable(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, "#!/bin/sh\nexit 0\n");
  chmodSync(path, 0o755);
  return path;
}

describe("pnpm bench without k6", () => {
  it("exits with 69 and tells how to install k6 when k6 is not on PATH", () => {
    const { code, stderr, stdout } = bench(["--quick"], { PATH: dir });
    expect(code).toBe(K6_NOT_FOUND_EXIT_CODE);
    expect(stderr).toContain("k6 was not found on PATH and K6_BIN is not set");
    expect(stderr).toContain("Install k6 the usual way");
    expect(stderr).toContain("github.com/grafana/k6/releases");
    expect(stdout).toBe("");
  });

  it("names a K6_BIN that points at nothing", () => {
    const { code, stderr } = bench([], { PATH: dir, K6_BIN: join(dir, "missing-k6") });
    expect(code).toBe(K6_NOT_FOUND_EXIT_CODE);
    expect(stderr).toContain(`K6_BIN is set to ${join(dir, "missing-k6")}, but no executable file is there`);
  });

  it("exits with 64 and the usage on a bad argument, before looking for k6", () => {
    const { code, stderr } = bench(["--levels", "many"], { PATH: dir });
    expect(code).toBe(USAGE_EXIT_CODE);
    expect(stderr).toContain('--levels: "many" is not a whole number');
  });

  it("prints the usage with --help and exits 0", () => {
    const { code, stdout } = bench(["--help"], { PATH: dir });
    expect(code).toBe(0);
    expect(stdout).toContain("Usage: pnpm bench [options]");
    expect(stdout).toContain("--rounds N");
    expect(stdout).toContain("--compare A B");
  });

  it("compares two results folders with --compare, without k6 or a database", () => {
    const fixture = new URL("./fixtures/bench-results-quick.json", import.meta.url);
    const folders = ["before", "after"].map((name) => {
      const folder = join(dir, name);
      mkdirSync(folder, { recursive: true });
      copyFileSync(fixture, join(folder, "summary.json"));
      return folder;
    });
    const { code, stdout, stderr } = bench(["--compare", ...folders], { PATH: dir });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain(`A = ${folders[0]}`);
    expect(stdout).toMatch(/\| level-up-coupler-10 \| P95 \| .* \| \+0\.0% \| {2}\|/);
  });
});

describe("findK6", () => {
  it("prefers K6_BIN, then searches PATH", () => {
    const onPath = fakeExecutable("k6");
    const explicit = fakeExecutable("my-k6");
    expect(findK6({ K6_BIN: explicit, PATH: dir })).toBe(explicit);
    expect(findK6({ PATH: `/nonexistent:${dir}` })).toBe(onPath);
  });

  it("throws K6NotFoundError when a K6_BIN file is not executable", () => {
    const plain = join(dir, "not-executable");
    writeFileSync(plain, "");
    expect(() => findK6({ K6_BIN: plain, PATH: "" })).toThrow(K6NotFoundError);
  });
});
