import { randomBytes } from "node:crypto";
import { Agent, request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "@coupler/core";
import { createCoupler, enrolledUser, type TestDatabase } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import { signToken } from "../src/auth.ts";
import { gauge, logLines, sampleSum, startMain, waitFor, type RunningMain } from "./runMain.ts";

/*
 * Regression (issue 16): with API_WORKERS=2 and one worker SIGKILLed, the next
 * scrape waited 5 s and answered 500, because prom-client's clusterMetrics()
 * fails the whole collection when one worker does not answer.
 */

/** What a scrape must answer within whatever one worker is doing (issue 16); the primary waits WORKER_METRICS_TIMEOUT_MS (500 ms) per collection. */
const SCRAPE_DEADLINE_MS = 1_000;
const CALLS = 12;

/**
 * GET over `agent`: a keep-alive agent with one socket keeps every request on
 * the same connection, so on the same worker (the primary hands a connection
 * to one worker for its whole life). That is how the test knows which worker
 * answers the scrape while the other is killed or stopped.
 */
function get(agent: Agent, url: string): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    request(url, { agent }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
    })
      .on("error", reject)
      .end();
  });
}

describe("/metrics of the API executable with API_WORKERS=2 when one worker does not answer", () => {
  let database: TestDatabase;
  let main: RunningMain;
  let agent: Agent;
  const secret = randomBytes(32).toString("hex");
  const workerPids = () => [...new Set(logLines(main.output).filter((l) => l.msg === "coupler API listening").map((l) => Number(l.pid)))];
  const levelUpsServedBy = (pid: number) =>
    logLines(main.output).filter((l) => l.msg === "request" && l.path === "/trpc/progression.levelUp" && Number(l.pid) === pid).length;

  /** The pid of the worker that holds the agent's connection, and the other one. */
  async function pinnedWorker(): Promise<{ pinned: number; other: number }> {
    const before = logLines(main.output).length;
    expect((await get(agent, `${main.url}/healthz`)).status).toBe(200);
    let line: Record<string, unknown> | undefined;
    await waitFor(() => (line = logLines(main.output).slice(before).find((l) => l.msg === "request" && l.path === "/healthz")) !== undefined);
    const pinned = Number(line?.pid);
    const other = workerPids().find((pid) => pid !== pinned);
    if (other === undefined) throw new Error("no second worker");
    return { pinned, other };
  }

  beforeAll(async () => {
    database = await useTestDatabase();
    const setup = createDatabase({ connectionString: database.url, max: 2 });
    const userId = await enrolledUser(setup, createCoupler(setup));
    await setup.close();
    const token = await signToken({ sub: 1, role: "instructor" }, secret, { expiresIn: "5m" });
    main = await startMain({ DATABASE_URL: database.url, AUTH_SECRET: secret, API_WORKERS: "2" });
    await waitFor(() => workerPids().length === 2);
    for (let i = 0; i < CALLS; i++) {
      // A new connection each time, so the primary hands the calls to both workers in turn.
      const response = await fetch(`${main.url}/trpc/progression.levelUp`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}`, connection: "close" },
        body: JSON.stringify({ userId, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
      });
      expect(response.status).toBe(200);
    }
    await waitFor(() => workerPids().every((pid) => levelUpsServedBy(pid) > 0) && workerPids().reduce((n, pid) => n + levelUpsServedBy(pid), 0) === CALLS);
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
      expect(sampleSum(scrape.body, "coupler_operations_total", 'operation="levelUp"')).toBe(levelUpsServedBy(pinned));
      expect(levelUpsServedBy(pinned)).toBeLessThan(CALLS);
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
    await waitFor(() => logLines(main.output).some((l) => l.msg === "API worker died unexpectedly; starting another" && l.worker === other));

    const scrape = await get(agent, `${main.url}/metrics`);
    expect(scrape.status).toBe(200);
    expect(scrape.ms).toBeLessThan(SCRAPE_DEADLINE_MS);
    expect(sampleSum(scrape.body, "coupler_operations_total", 'operation="levelUp"')).toBe(levelUpsServedBy(pinned));
    expect(gauge(scrape.body, "coupler_metrics_workers_missing")).toBe(1);

    // Once the replacement listens it answers too (with its own, fresh counters).
    await waitFor(() => workerPids().length === 3, 20_000);
    const healed = await get(agent, `${main.url}/metrics`);
    expect(gauge(healed.body, "coupler_metrics_workers_missing")).toBe(0);
    expect(sampleSum(healed.body, "coupler_operations_total", 'operation="levelUp"')).toBe(levelUpsServedBy(pinned));
  }, 40_000);
});
