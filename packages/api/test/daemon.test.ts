import { execFile, execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useTestDatabase } from "@coupler/testing/vitest";
import type { TestDatabase } from "@coupler/testing";
import { isRunning, waitFor } from "./runMain.ts";

/*
 * Issue 17: `nohup node packages/api/dist/main.js &` from a shell that exits
 * stopped itself about a second later ("parent process exited"). The built
 * executable, started the way an operator or a supervisor starts it, must keep
 * serving until signalled; the launcher watchdog applies only to
 * `--stop-with-parent` (what `pnpm start` and `pnpm dev` pass).
 */
const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const BUILT_MAIN = join(ROOT, "packages/api/dist/main.js");
const run = promisify(execFile);

/** Longer than the watchdog's 1 s poll, so a process that would stop with its launcher has done so. */
const PAST_WATCHDOG_MS = 3000;

describe("the built API executable started from a short-lived shell", () => {
  let database: TestDatabase;
  let home: string;
  const secret = randomBytes(32).toString("hex");
  const pids: number[] = [];

  beforeAll(async () => {
    // The built binary is what operators run; build it (turbo's cache makes this quick when it is current).
    await run(
      join(ROOT, "node_modules/.bin/turbo"),
      ["run", "build", "--filter=@coupler/api...", "--output-logs=errors-only"],
      { cwd: ROOT, timeout: 300_000 },
    );
    database = await useTestDatabase();
    home = await mkdtemp(join(tmpdir(), "coupler-daemon-"));
  }, 320_000);
  afterAll(async () => {
    for (const pid of pids) if (isRunning(pid)) process.kill(pid, "SIGKILL");
    await database.drop();
    await rm(home, { recursive: true, force: true });
  });

  /** Runs `script` in `sh -c` (which exits at once); returns the PID it echoed and the API's log file. */
  async function launch(name: string, script: (log: string) => string): Promise<{ pid: number; log: string }> {
    const log = join(home, `${name}.log`);
    const env = {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: database.url,
      AUTH_SECRET: secret,
      HOST: "127.0.0.1",
      PORT: "0",
      LOG_LEVEL: "info",
      INTEGRITY_CHECK_INTERVAL_MS: "0",
      COUPLER_ENV_FILE: "",
    };
    const stdout = execFileSync("sh", ["-c", script(log)], { env, encoding: "utf8", timeout: 60_000 });
    const pid = Number(stdout.trim().split("\n").at(-1));
    expect(Number.isInteger(pid) && pid > 0, `the shell echoed a PID: ${stdout}`).toBe(true);
    pids.push(pid);
    return { pid, log };
  }

  async function bannerUrl(log: string): Promise<string> {
    let url: string | undefined;
    await waitFor(() => {
      try {
        url = /^ {2}API +(http:\/\/\S+)\/trpc\b/m.exec(readFileSync(log, "utf8"))?.[1];
      } catch {
        url = undefined;
      }
      return url !== undefined;
    }, 60_000);
    return url ?? "";
  }

  async function stops(pid: number): Promise<void> {
    process.kill(pid, "SIGTERM");
    await waitFor(() => !isRunning(pid), 20_000);
  }

  for (const [how, prefix] of [
    ["nohup", "nohup"],
    ["setsid", "setsid"],
  ] as const) {
    it(`keeps serving under ${how} after the shell exits, until SIGTERM`, async () => {
      const { pid, log } = await launch(
        how,
        (file) => `${prefix} node ${BUILT_MAIN} >${file} 2>&1 </dev/null & echo $!`,
      );
      const url = await bannerUrl(log);
      await new Promise((resolve) => setTimeout(resolve, PAST_WATCHDOG_MS));
      expect(isRunning(pid)).toBe(true);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(await readFile(log, "utf8")).not.toContain("parent process exited");
      await stops(pid);
      expect(await readFile(log, "utf8")).toContain('"reason":"SIGTERM"');
    }, 90_000);
  }

  it("with --stop-with-parent (pnpm start's launcher mode) shuts down once the shell that started it exits", async () => {
    // The shell waits for the banner, so the API has seen it as its parent, then exits.
    const { pid, log } = await launch(
      "launcher",
      (file) =>
        `node ${BUILT_MAIN} --stop-with-parent >${file} 2>&1 </dev/null & until grep -q 'Stop with SIGTERM or SIGINT' ${file}; do sleep 0.1; done; echo $!`,
    );
    await waitFor(() => !isRunning(pid), 20_000);
    expect(await readFile(log, "utf8")).toContain('"reason":"parent process exited"');
  }, 90_000);
});
