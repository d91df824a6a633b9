import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "@coupler/core";
import { createCoupler, enrolledUser, type TestDatabase } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import { signToken } from "../src/auth.ts";
import { gauge, logLines, runMain, sampleSum, startMain, waitFor, type RunningMain } from "./runMain.ts";

/*
 * Regression (issue 16): with API_WORKERS=2 and one worker SIGKILLed, the next
 * scrape waited 5 s and answered 500, because prom-client's clusterMetrics()
 * fails the whole collection when one worker does not answer. And on the main
 * port a scrape whose connection the cluster hands to a stopped worker hangs,
 * so with METRICS_PORT the primary serves /metrics itself (workers.ts).
 */

/** What a scrape must answer within whatever one worker is doing (issue 16); the primary waits WORKER_METRICS_TIMEOUT_MS (500 ms) per collection. */
const SCRAPE_DEADLINE_MS = 1_000;
const CALLS = 12;
const SCRAPES = 6;
const METRICS_TOKEN = "workers-metrics-token-0123456789";

/**
 * GET over `agent`: a keep-alive agent with one socket keeps every request on
 * the same connection, so on the same worker (the primary hands a connection
 * to one worker for its whole life). That is how the test knows which worker
 * answers the scrape while the other is killed or stopped. `false`: a fresh
 * connection, closed after the answer, as a scraper that does not keep alive.
 */
function get(
  agent: Agent | false,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    request(url, { agent, headers: agent ? headers : { ...headers, connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
    })
      .on("error", reject)
      .end();
  });
}

/** The pids of the workers that have listened so far (a replacement included), in order. */
function workerPids(main: RunningMain): number[] {
  return [
    ...new Set(
      logLines(main.output)
        .filter((l) => l.msg === "coupler API listening")
        .map((l) => Number(l.pid)),
    ),
  ];
}

/** How many level-ups worker `pid` has answered, from its request log lines. */
function levelUpsServedBy(main: RunningMain, pid: number): number {
  return logLines(main.output).filter(
    (l) => l.msg === "request" && l.path === "/trpc/progression.levelUp" && Number(l.pid) === pid,
  ).length;
}

/** Starts main.ts with two workers and `env`, and makes CALLS level-ups, each on a new connection so that both workers answer some. */
async function startWorkersWithCalls(database: TestDatabase, env: Record<string, string>): Promise<RunningMain> {
  const setup = createDatabase({ connectionString: database.url, max: 2 });
  const userId = await enrolledUser(setup, createCoupler(setup));
  await setup.close();
  const secret = randomBytes(32).toString("hex");
  const token = await signToken({ sub: 1, role: "instructor" }, secret, { expiresIn: "5m" });
  const main = await startMain({ DATABASE_URL: database.url, AUTH_SECRET: secret, API_WORKERS: "2", ...env });
  await waitFor(() => workerPids(main).length === 2);
  for (let i = 0; i < CALLS; i++) {
    const response = await fetch(`${main.url}/trpc/progression.levelUp`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}`, connection: "close" },
      body: JSON.stringify({ userId, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
    });
    expect(response.status).toBe(200);
  }
  const pids = workerPids(main);
  await waitFor(
    () =>
      pids.every((pid) => levelUpsServedBy(main, pid) > 0) &&
      pids.reduce((n, pid) => n + levelUpsServedBy(main, pid), 0) === CALLS,
  );
  return main;
}

describe("/metrics on the main port of the API executable with API_WORKERS=2 when one worker does not answer", () => {
  let database: TestDatabase;
  let main: RunningMain;
  let agent: Agent;

  /** The pid of the worker that holds the agent's connection, and the other one. */
  async function pinnedWorker(): Promise<{ pinned: number; other: number }> {
    const before = logLines(main.output).length;
    expect((await get(agent, `${main.url}/healthz`)).status).toBe(200);
    let line: Record<string, unknown> | undefined;
    await waitFor(
      () =>
        (line = logLines(main.output)
          .slice(before)
          .find((l) => l.msg === "request" && l.path === "/healthz")) !== undefined,
    );
    const pinned = Number(line?.pid);
    const other = workerPids(main).find((pid) => pid !== pinned);
    if (other === undefined) throw new Error("no second worker");
    return { pinned, other };
  }

  beforeAll(async () => {
    database = await useTestDatabase();
    main = await startWorkersWithCalls(database, {});
  }, 60_000);

  afterAll(async () => {
    agent?.destroy();
    main?.child.kill("SIGKILL");
    await database?.drop();
  });

  it("answers 200 within the deadline with a stopped (SIGSTOP) worker: the live worker's calls and 1 worker missing, then both again after SIGCONT", async () => {
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const { pinned, other } = await pinnedWorker();
    const full = await get(agent, `${main.url}/metrics`);
    expect(sampleSum(full.body, "coupler_operations_total", 'operation="levelUp"')).toBe(CALLS);
    expect(gauge(full.body, "coupler_metrics_workers_missing")).toBe(0);

    process.kill(other, "SIGSTOP");
    try {
      const scrape = await get(agent, `${main.url}/metrics`);
      expect(scrape.status).toBe(200);
      expect(scrape.ms).toBeLessThan(SCRAPE_DEADLINE_MS);
      expect(sampleSum(scrape.body, "coupler_operations_total", 'operation="levelUp"')).toBe(
        levelUpsServedBy(main, pinned),
      );
      expect(levelUpsServedBy(main, pinned)).toBeLessThan(CALLS);
      expect(gauge(scrape.body, "coupler_metrics_workers_missing")).toBe(1);
    } finally {
      process.kill(other, "SIGCONT");
    }
    // The stopped worker's late answer to the last scrape is dropped; the next scrape has both again.
    const after = await get(agent, `${main.url}/metrics`);
    expect(after.status).toBe(200);
    expect(sampleSum(after.body, "coupler_operations_total", 'operation="levelUp"')).toBe(CALLS);
    expect(gauge(after.body, "coupler_metrics_workers_missing")).toBe(0);
  }, 30_000);

  it("answers 200 within the deadline with a killed (SIGKILL) worker being replaced: the survivor's calls and 1 worker missing", async () => {
    agent.destroy();
    agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const { pinned, other } = await pinnedWorker();
    process.kill(other, "SIGKILL");
    // The primary has seen the exit and forked a replacement, which is not listening yet.
    await waitFor(() =>
      logLines(main.output).some(
        (l) => l.msg === "API worker died unexpectedly; starting another" && l.worker === other,
      ),
    );

    const scrape = await get(agent, `${main.url}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.ms).toBeLessThan(SCRAPE_DEADLINE_MS);
    expect(sampleSum(scrape.body, "coupler_operations_total", 'operation="levelUp"')).toBe(
      levelUpsServedBy(main, pinned),
    );
    expect(gauge(scrape.body, "coupler_metrics_workers_missing")).toBe(1);

    // Once the replacement listens it answers too (with its own, fresh counters).
    await waitFor(() => workerPids(main).length === 3, 20_000);
    const healed = await get(agent, `${main.url}/metrics`);
    expect(gauge(healed.body, "coupler_metrics_workers_missing")).toBe(0);
    expect(sampleSum(healed.body, "coupler_operations_total", 'operation="levelUp"')).toBe(
      levelUpsServedBy(main, pinned),
    );
  }, 40_000);
});

describe("/metrics at METRICS_PORT of the API executable with API_WORKERS=2, served by the primary", () => {
  let database: TestDatabase;
  let main: RunningMain;
  const auth = { authorization: `Bearer ${METRICS_TOKEN}` };

  beforeAll(async () => {
    database = await useTestDatabase();
    main = await startWorkersWithCalls(database, { METRICS_PORT: "0", METRICS_TOKEN });
  }, 60_000);

  afterAll(async () => {
    main?.child.kill("SIGKILL");
    await database?.drop();
  });

  /** SCRAPES scrapes, each on a fresh connection; every one must answer 200 within the deadline. */
  async function scrapes(): Promise<string[]> {
    const bodies: string[] = [];
    for (let i = 0; i < SCRAPES; i++) {
      const scrape = await get(false, main.metricsUrl, auth);
      expect(scrape.status, `scrape ${i}`).toBe(200);
      expect(scrape.ms, `scrape ${i}`).toBeLessThan(SCRAPE_DEADLINE_MS);
      bodies.push(scrape.body);
    }
    return bodies;
  }

  it("is served by the primary process on its own port, only to the bearer of METRICS_TOKEN; the workers answer /metrics on the main port with 404", async () => {
    expect(new URL(main.metricsUrl).port).not.toBe(new URL(main.url).port);
    const serving = logLines(main.output).find((l) => l.msg === "primary serving /metrics for all workers");
    expect(Number(serving?.pid)).toBe(main.child.pid);
    expect(serving?.metricsUrl).toBe(main.metricsUrl);

    for (const headers of [{}, { authorization: "Bearer wrong-token-0123456789" }] as Record<string, string>[]) {
      const denied = await get(false, main.metricsUrl, headers);
      expect(denied.status).toBe(401);
      expect(denied.body).not.toContain("coupler_operations_total");
    }
    const scrape = await get(false, main.metricsUrl, auth);
    expect(scrape.status).toBe(200);
    expect(sampleSum(scrape.body, "coupler_operations_total", 'operation="levelUp"')).toBe(CALLS);
    expect(gauge(scrape.body, "coupler_metrics_workers_missing")).toBe(0);
    expect((await get(false, `${new URL(main.metricsUrl).origin}/healthz`)).status).toBe(404);
    // Two fresh connections, so both workers are asked at least once in turn (round-robin).
    for (let i = 0; i < 2; i++) expect((await get(false, `${main.url}/metrics`, auth)).status).toBe(404);
  }, 30_000);

  it("exits 1 when METRICS_PORT is taken, saying so in one line that names the port, before any worker serves, and logs no pg client secrets", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const child = runMain({
        DATABASE_URL: database.url,
        AUTH_SECRET: randomBytes(32).toString("hex"),
        API_WORKERS: "2",
        METRICS_PORT: String(port),
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(1);
      // One line, not a JSON stack (regression), naming the port.
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(stderr).toContain(`EADDRINUSE`);
      expect(stderr).toContain(`127.0.0.1:${port}`);
      const output = stdout + stderr;
      expect(output).not.toContain("    at ");
      expect(output).not.toContain("coupler API listening");
      // Regression: a pool client cut off by the shutdown was logged whole, cancel key included.
      for (const leaked of ["secretKey", "processID"]) expect(output).not.toContain(leaked);
    } finally {
      taken.close();
    }
  }, 30_000);

  it("answers every scrape on a fresh connection with 200 within the deadline while a worker is stopped (SIGSTOP): the live worker's calls and 1 worker missing", async () => {
    const [stopped, live] = workerPids(main);
    if (stopped === undefined || live === undefined) throw new Error("two workers expected");
    process.kill(stopped, "SIGSTOP");
    try {
      for (const body of await scrapes()) {
        expect(sampleSum(body, "coupler_operations_total", 'operation="levelUp"')).toBe(levelUpsServedBy(main, live));
        expect(gauge(body, "coupler_metrics_workers_missing")).toBe(1);
      }
      expect(levelUpsServedBy(main, live)).toBeLessThan(CALLS);
    } finally {
      process.kill(stopped, "SIGCONT");
    }
    const after = await get(false, main.metricsUrl, auth);
    expect(sampleSum(after.body, "coupler_operations_total", 'operation="levelUp"')).toBe(CALLS);
    expect(gauge(after.body, "coupler_metrics_workers_missing")).toBe(0);
  }, 30_000);

  it("answers every scrape on a fresh connection with 200 within the deadline after a worker is killed (SIGKILL): the survivor's calls and 1 worker missing until its replacement listens", async () => {
    const [killed, survivor] = workerPids(main);
    if (killed === undefined || survivor === undefined) throw new Error("two workers expected");
    process.kill(killed, "SIGKILL");
    await waitFor(() =>
      logLines(main.output).some(
        (l) => l.msg === "API worker died unexpectedly; starting another" && l.worker === killed,
      ),
    );
    for (const body of await scrapes()) {
      expect(sampleSum(body, "coupler_operations_total", 'operation="levelUp"')).toBe(levelUpsServedBy(main, survivor));
      expect(gauge(body, "coupler_metrics_workers_missing")).toBe(1);
    }
    await waitFor(() => workerPids(main).length === 3, 20_000);
    const healed = await get(false, main.metricsUrl, auth);
    expect(gauge(healed.body, "coupler_metrics_workers_missing")).toBe(0);
    expect(sampleSum(healed.body, "coupler_operations_total", 'operation="levelUp"')).toBe(
      levelUpsServedBy(main, survivor),
    );
  }, 40_000);
});
