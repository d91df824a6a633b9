import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "@coupler/core";
import { createCoupler, enrolledUser, waitForLockWaiters, whilePairLocked, type TestDatabase } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import { signToken } from "../src/auth.ts";

/*
 * The API executable as it runs for real: its own process, its own signals.
 * It runs from source (tsx, "source" condition) rather than dist/, because the
 * tests do not build and a dist/ left from an older build could be stale.
 */
const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const PACKAGE = fileURLToPath(new URL("..", import.meta.url));

interface RunningMain {
  child: ChildProcess;
  url: string;
  databaseUrl: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: string[];
}

/** Starts main.ts with exactly `env` (plus PATH), and waits for its banner. */
async function startMain(env: Record<string, string>): Promise<RunningMain> {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", MAIN], {
    cwd: PACKAGE,
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "info", INTEGRITY_CHECK_INTERVAL_MS: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  createInterface({ input: child.stderr ?? process.stdin }).on("line", (line) => output.push(line));
  const banner = new Promise<{ url: string; databaseUrl: string }>((resolve, reject) => {
    let url: string | undefined;
    createInterface({ input: child.stdout ?? process.stdin }).on("line", (line) => {
      output.push(line);
      url ??= /^ {2}API +(http:\/\/\S+)\/trpc$/.exec(line)?.[1];
      const databaseUrl = /^ {2}DATABASE_URL +(postgres\S+)/.exec(line)?.[1];
      if (url && databaseUrl) resolve({ url, databaseUrl });
    });
    void exited.then(({ code }) => reject(new Error(`main exited (${code}) before its banner:\n${output.join("\n")}`)));
  });
  return { child, exited, output, ...(await banner) };
}

/**
 * Sends `signal` while a level-up waits on a row lock the test holds, checks
 * the process keeps draining, then releases the lock: the call must complete
 * and the process exit 0.
 */
async function drainsInFlightCall(main: RunningMain, database: { url: string; name: string }, signal: NodeJS.Signals, secret: string) {
  const setup = createDatabase({ connectionString: database.url, max: 2 });
  const userId = await enrolledUser(setup, createCoupler(setup));
  await setup.close();
  const token = await signToken({ sub: 1, role: "instructor" }, secret, { expiresIn: "5m" });

  const response = await whilePairLocked(database, userId, async (holder) => {
    const inFlight = fetch(`${main.url}/trpc/progression.levelUp`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ userId, specialization: "PLAYER", xpGained: 150, sessionsCompleted: 1 }),
    });
    await waitForLockWaiters(database, { blockedBy: holder.pid });
    main.child.kill(signal);
    // Draining: no new connections, but the process (and its database) stays up for the call.
    await waitFor(() => main.output.some((line) => line.includes("shutting down")));
    expect(main.child.exitCode).toBeNull();
    await holder.query("rollback");
    return inFlight;
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({ result: { data: { newLevel: 2 } } });
  expect(await main.exited).toEqual({ code: 0, signal: null });
}

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("the API executable on DATABASE_URL", () => {
  let database: TestDatabase;
  const secret = randomBytes(32).toString("hex");
  beforeAll(async () => {
    database = await useTestDatabase();
  });
  afterAll(() => database.drop());

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`answers /healthz, then on ${signal} completes the in-flight call and exits 0`, async () => {
      const main = await startMain({ DATABASE_URL: database.url, AUTH_SECRET: secret, COUPLER_LOCK_TIMEOUT_MS: "20000" });
      try {
        const health = await fetch(`${main.url}/healthz`);
        expect(health.status).toBe(200);
        await drainsInFlightCall(main, database, signal, secret);
      } finally {
        main.child.kill("SIGKILL");
      }
    });
  }

  it("refuses a bad environment with one line and exit code 2", async () => {
    const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", MAIN], {
      cwd: PACKAGE,
      env: { PATH: process.env.PATH ?? "", PORT: "abc", DATABASE_URL: database.url },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("PORT");
  });
});

describe("the API executable without DATABASE_URL", () => {
  it("stops the embedded PostgreSQL it started only after draining, and leaves no postgres process", async () => {
    const home = await mkdtemp(join(tmpdir(), "coupler-main-"));
    await chmod(home, 0o755); // as root, the postgres user must reach its data dir
    const dataDir = join(home, "pg");
    const secret = randomBytes(32).toString("hex");
    try {
      const main = await startMain({ COUPLER_DATA_DIR: dataDir, AUTH_SECRET: secret, COUPLER_LOCK_TIMEOUT_MS: "20000" });
      try {
        const postgresPid = Number((await readFile(join(dataDir, "postmaster.pid"), "utf8")).split("\n", 1)[0]);
        expect(isRunning(postgresPid)).toBe(true);
        await drainsInFlightCall(main, { url: main.databaseUrl, name: "coupler" }, "SIGINT", secret);
        await waitFor(() => !isRunning(postgresPid));
      } finally {
        main.child.kill("SIGKILL");
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 120_000);
});
