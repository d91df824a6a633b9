import { randomBytes } from "node:crypto";
import { createServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { createLogger } from "@coupler/core";
import { startServer } from "../src/server.ts";
import { startTestApi } from "./harness.ts";
import { freePort, gauge } from "./runMain.ts";

/** Scrapes `url` every 100 ms until coupler_ready reads `value` (the probe runs at start), for at most 5 s; the last answer. */
async function scrapeUntilReady(url: string, value: number): Promise<{ status: number; text: string }> {
  let last = { status: 0, text: "" };
  for (let i = 0; i < 50 && gauge(last.text, "coupler_ready") !== value; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    const res = await fetch(`${url}/metrics`);
    last = { status: res.status, text: await res.text() };
  }
  return last;
}

describe("coupler_ready: readiness as a metric", () => {
  it("is 1 once the readiness probe has reached the database, and coupler_metrics_workers_missing is 0 in a single process", async () => {
    await using api = await startTestApi();
    const { text } = await scrapeUntilReady(api.url, 1);
    expect(gauge(text, "coupler_ready")).toBe(1);
    expect(gauge(text, "coupler_metrics_workers_missing")).toBe(0);
  });

  it("/readyz answers 200 while every pooled connection is taken, and coupler_db_pool_waiting counts the calls waiting for one", async () => {
    await using api = await startTestApi({ poolSize: 2 });
    const pool = api.server.services.pool;
    const taken = [await pool.connect(), await pool.connect()];
    const waiting = pool.connect();
    try {
      expect(pool.waitingCount).toBe(1);
      // Reachability on the probe's own connection: the saturated shared pool is not the database being down.
      expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
      const text = await (await fetch(`${api.url}/metrics`)).text();
      expect(gauge(text, "coupler_db_pool_waiting")).toBe(1);
      expect(gauge(text, 'coupler_db_pool_connections{state="total"}')).toBe(2);
      expect(gauge(text, 'coupler_db_pool_connections{state="idle"}')).toBe(0);
    } finally {
      for (const client of taken) client.release();
      (await waiting).release();
    }
  });

  it("is 0 while the process is up and its database unreachable, and /metrics still answers 200 without waiting on the database", async () => {
    const logged: string[] = [];
    const server = await startServer({
      databaseUrl: `postgres://coupler@127.0.0.1:${await freePort()}/coupler`,
      authSecret: randomBytes(32).toString("hex"),
      host: "127.0.0.1",
      port: 0,
      integrityIntervalMs: 0,
      logger: createLogger("coupler-api-test", "warn", { write: (line: string) => void logged.push(line) }),
    });
    try {
      // The gauge starts at 0; wait for the probe's own verdict before reading it.
      for (let i = 0; i < 50 && !logged.some((l) => l.includes("readiness probe failed")); i++)
        await new Promise((resolve) => setTimeout(resolve, 100));
      expect(logged.some((l) => l.includes("readiness probe failed: the database is unreachable"))).toBe(true);
      const { status, text } = await scrapeUntilReady(server.url, 0);
      expect(status).toBe(200);
      expect(gauge(text, "coupler_ready")).toBe(0);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    } finally {
      await server.close();
    }
  });

  it("/readyz answers 503 'database unreachable' within its 2 s probe bound when the database accepts connections but never answers (a SIGSTOPped server)", async () => {
    // What a stopped PostgreSQL looks like from here: the kernel accepts the connection, nothing ever answers.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const { port } = silent.address() as { port: number };
    const server = await startServer({
      databaseUrl: `postgres://coupler@127.0.0.1:${port}/coupler`,
      authSecret: randomBytes(32).toString("hex"),
      host: "127.0.0.1",
      port: 0,
      integrityIntervalMs: 0,
      logger: createLogger("coupler-api-test", "silent"),
    });
    try {
      // Unbounded, the check waited for pg's 10 s connection timeout (and on a real stopped server, over 30 s).
      const res = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(8_000) });
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: "database unreachable" });
      const { text } = await scrapeUntilReady(server.url, 0);
      expect(gauge(text, "coupler_ready")).toBe(0);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
      await server.close();
    }
  }, 30_000);
});
