import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "@coupler/core";
import { createCoupler, enrolledUser, waitForLockWaiters, whilePairLocked, type TestDatabase } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import { signToken } from "../src/auth.ts";
import { isRunning, runMain, runToken, startMain, waitFor, type RunningMain } from "./runMain.ts";

/** A JWT anywhere in a line (header.payload.signature, base64url). */
const JWT = /eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+/;

/**
 * Sends `signal` while a level-up waits on a row lock the test holds, checks
 * the process keeps draining, then releases the lock: the call must complete
 * and the process exit 0.
 */
async function drainsInFlightCall(
  main: RunningMain,
  database: { url: string; name: string },
  signal: NodeJS.Signals,
  secret: string,
) {
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

/** Waits for a process that should end by itself; its exit code and output. */
async function finished(
  child: ReturnType<typeof runMain | typeof runToken>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, stdout, stderr };
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
      const main = await startMain({
        DATABASE_URL: database.url,
        AUTH_SECRET: secret,
        COUPLER_LOCK_TIMEOUT_MS: "20000",
      });
      try {
        const health = await fetch(`${main.url}/healthz`);
        expect(health.status).toBe(200);
        await drainsInFlightCall(main, database, signal, secret);
      } finally {
        main.child.kill("SIGKILL");
      }
    });
  }

  it("seeds demo users with COUPLER_SEED_DEMO=true but prints no token, no database password and no AUTH_SECRET", async () => {
    const main = await startMain({ DATABASE_URL: database.url, AUTH_SECRET: secret, COUPLER_SEED_DEMO: "true" });
    try {
      const { username, password } = new URL(database.url);
      expect(main.databaseUrl).toBe(database.url.replace(`:${password}@`, ":***@"));
      const output = main.output.join("\n");
      expect(output).not.toContain(`${username}:${password}@`);
      expect(output).not.toContain(secret);
      expect(output).not.toMatch(JWT);
      expect(output).toContain("Ivan Instructor");
      expect(output).toContain("token --sub <user id>");
      main.child.kill("SIGTERM");
      expect(await main.exited).toEqual({ code: 0, signal: null });
    } finally {
      main.child.kill("SIGKILL");
    }
  });

  it("answers --help with its usage and exit 0, without starting a server", async () => {
    const { code, stdout } = await finished(runMain({ DATABASE_URL: database.url }, ["--help"]));
    expect(code).toBe(0);
    expect(stdout).toContain("usage: node packages/api/dist/main.js");
    expect(stdout).toContain("--stop-with-parent");
    expect(stdout).not.toContain("Coupler API is up");
  });

  it("refuses an unknown flag with one line and exit code 2 (regression: --bogus started the server)", async () => {
    const { code, stderr, stdout } = await finished(runMain({ DATABASE_URL: database.url }, ["--bogus"]));
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(stderr).toContain("--bogus");
    // The command a person can run (regression: "coupler-api --help", a name no executable has).
    expect(stderr).toContain("(node packages/api/dist/main.js --help for usage)");
    expect(stdout).toBe("");
  });

  it("refuses a bad environment with one line and exit code 2", async () => {
    const child = runMain({ PORT: "abc", DATABASE_URL: database.url });
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
    try {
      // No AUTH_SECRET: the development secret is generated beside the data dir, as on a first `pnpm start`.
      // AUTH_MAX_TOKEN_LIFETIME under the demo tokens' 12 h: they must shrink to it (regression: 401 "lifetime exceeds").
      const main = await startMain({
        COUPLER_DATA_DIR: dataDir,
        COUPLER_LOCK_TIMEOUT_MS: "20000",
        AUTH_MAX_TOKEN_LIFETIME: "3600",
      });
      try {
        const secret = (await readFile(join(home, "auth-secret"), "utf8")).trim();
        const postgresPid = Number((await readFile(join(dataDir, "postmaster.pid"), "utf8")).split("\n", 1)[0]);
        expect(isRunning(postgresPid)).toBe(true);

        // The server's password is generated and kept beside the data dir, readable by its owner only.
        const passwordFile = join(home, "pg.password");
        expect((await stat(passwordFile)).mode & 0o777).toBe(0o600);
        const password = (await readFile(passwordFile, "utf8")).trim();
        const databaseUrl = main.databaseUrl.replace(":***@", `:${encodeURIComponent(password)}@`);
        expect(databaseUrl).not.toBe(main.databaseUrl);
        const output = main.output.join("\n");
        expect(output).not.toContain(password);
        expect(output).not.toContain(secret);
        expect(output).toMatch(JWT); // the development server on its own PostgreSQL prints demo tokens
        expect(output).toContain("Demo users and tokens (valid 1h, within AUTH_MAX_TOKEN_LIFETIME)");
        // Not on a terminal here, so no Ctrl-C to press (regression: the banner said "Stop with Ctrl-C." to a service).
        expect(main.output).toContain("Stop with SIGTERM or SIGINT.");
        const demoToken = JWT.exec(output)?.[0] ?? "";
        const asDemo = await fetch(
          `${main.url}/trpc/progression.get?input=${encodeURIComponent(JSON.stringify({ userId: 3, specialization: "PLAYER" }))}`,
          {
            headers: { authorization: `Bearer ${demoToken}` },
          },
        );
        expect(asDemo.status).toBe(200);
        // The banner names the front doors: the landing page, Swagger UI, the OpenAPI document and the REST base.
        for (const path of ["/docs", "/openapi.json", "/api"]) expect(output).toContain(`${main.url}${path}`);
        // The fixed password every checkout used to share no longer opens it (regression: it was "coupler" for all).
        const withFixed = createDatabase({
          connectionString: databaseUrl.replace(`:${encodeURIComponent(password)}@`, ":coupler@"),
          max: 1,
        });
        await expect(withFixed.pool.query("select 1")).rejects.toMatchObject({ code: "28P01" }); // invalid_password
        await withFixed.close();

        // The banner's "more tokens" hint names this data dir, so it signs with this server's secret (regression: another one).
        const hint = main.output.find((line) => line.includes("TOKEN=$(")) ?? "";
        expect(hint).toContain(`TOKEN=$(COUPLER_DATA_DIR=${dataDir} pnpm --silent --filter @coupler/api token`);
        const minted = await finished(runToken({ COUPLER_DATA_DIR: dataDir }, ["--sub", "3", "--role", "student"]));
        expect(minted.code).toBe(0);
        const read = await fetch(
          `${main.url}/trpc/progression.get?input=${encodeURIComponent(JSON.stringify({ userId: 3, specialization: "PLAYER" }))}`,
          {
            headers: { authorization: `Bearer ${minted.stdout.trim()}` },
          },
        );
        expect(read.status).toBe(200);

        // A second start on the same data dir says in one line who holds it (regression: a JSON stack trace).
        const second = await finished(runMain({ COUPLER_DATA_DIR: dataDir }));
        expect(second.code).toBe(1);
        expect(second.stderr.trim().split("\n")).toHaveLength(1);
        expect(second.stderr).toContain(`another coupler is running with data dir ${dataDir}`);
        expect(second.stderr).toContain(`PID ${postgresPid}`);
        expect(second.stderr + second.stdout).not.toContain("    at ");
        expect(isRunning(postgresPid)).toBe(true);

        await drainsInFlightCall(main, { url: databaseUrl, name: "coupler" }, "SIGINT", secret);
        await waitFor(() => !isRunning(postgresPid));
      } finally {
        main.child.kill("SIGKILL");
      }
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 120_000);
});
