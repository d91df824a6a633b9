import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { k6UserEnv, parseBenchEnv } from "./env.ts";
import { k6ChildEnv, k6Version } from "./k6.ts";

describe("k6UserEnv", () => {
  it("keeps every K6_* variable except the bench's own K6_BIN, and nothing else", () => {
    const env = k6UserEnv({
      K6_OUT: "json=out.json",
      K6_WEB_DASHBOARD: "true",
      K6_BIN: "/opt/k6",
      AUTH_SECRET: "s",
      DATABASE_URL: "postgres://x",
      k6_out: "lower",
    });
    expect(env).toEqual({ K6_OUT: "json=out.json", K6_WEB_DASHBOARD: "true" });
  });
});

describe("k6ChildEnv", () => {
  it("passes the user's K6_* settings through, the scenario's own settings winning", () => {
    const base = { PATH: "/bin", HOME: "/tmp", K6_USER: { K6_OUT: "csv=x.csv", K6_VUS: "1000" } };
    const env = k6ChildEnv(base, { BASE_URL: "http://api", K6_VUS: "5" });
    expect(env).toMatchObject({ BASE_URL: "http://api", K6_OUT: "csv=x.csv", K6_VUS: "5" });
    expect(Object.keys(env).sort()).toEqual(["BASE_URL", "HOME", "K6_OUT", "K6_VUS", "PATH"]);
  });
});

describe("spawning k6", () => {
  // Regression: k6 got only PATH and HOME, so a user's K6_OUT never reached it.
  it("hands the bench's K6_OUT to the k6 it starts, and not its other variables", async () => {
    const dir = await mkdtemp(join(tmpdir(), "fake-k6-"));
    try {
      const fake = join(dir, "k6");
      await writeFile(fake, '#!/bin/sh\necho "out=$K6_OUT secret=$AUTH_SECRET"\n');
      await chmod(fake, 0o755);
      const env = parseBenchEnv({
        PATH: "/bin",
        HOME: "/tmp",
        K6_OUT: "json=/tmp/k6-out.json",
        AUTH_SECRET: "not-for-k6",
      });
      expect(await k6Version(fake, env)).toBe("out=json=/tmp/k6-out.json secret=");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
