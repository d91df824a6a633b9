import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase } from "@coupler/core";
import { createCoupler, enrolledUser, type TestDatabase } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import { signToken } from "../src/auth.ts";
import { gauge, logLines, startMain, waitFor, type RunningMain } from "./runMain.ts";

/*
 * Regression (issue 24): with two workers, right after a repair
 * `admin.integrity` said 0 desynced, but `progress_license_desync_count` at
 * METRICS_PORT stayed 1 for up to a minute. Only the worker that ran the audit
 * refreshed its gauge, and the primary took the maximum over the workers, so
 * `CouplerDesyncedPairs` could page after the fix. The primary now reports
 * the newest check, whichever worker ran it (newestIntegrityCheck.ts).
 */

const METRICS_TOKEN = "workers-integrity-token-0123456789";

describe("the integrity gauges of the API executable with API_WORKERS=2", () => {
  let database: TestDatabase | undefined;
  let main: RunningMain | undefined;

  afterAll(async () => {
    main?.child.kill("SIGKILL");
    await database?.drop();
  });

  it("read 0 desynced pairs at the first scrape after a repair and the audit that proves it", async () => {
    database = await useTestDatabase();
    const setup = createDatabase({ connectionString: database.url, max: 2 });
    const userId = await enrolledUser(setup, createCoupler(setup));
    // A legacy writer's half change, with the guard off (as a migration leaves it).
    await setup.pool.query(
      "update user_licenses set current_level = 3, max_achieved_level = 3 where user_id = $1 and specialization_type = 'PLAYER'",
      [userId],
    );
    await setup.close();

    const secret = randomBytes(32).toString("hex");
    const admin = await signToken({ sub: 900_001, role: "admin" }, secret, { expiresIn: "5m" });
    // INTEGRITY_CHECK_INTERVAL_MS=0 (runMain's default): each worker checks once, at start, and never again by itself.
    main = await startMain({
      DATABASE_URL: database.url,
      AUTH_SECRET: secret,
      API_WORKERS: "2",
      METRICS_PORT: "0",
      METRICS_TOKEN,
    });
    const running = main;
    const scrape = async () =>
      (await fetch(running.metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    const call = (path: string, init: RequestInit = {}) =>
      fetch(`${running.url}/trpc/${path}`, {
        ...init,
        headers: { "content-type": "application/json", authorization: `Bearer ${admin}`, connection: "close" },
      });

    // Both workers' start-up checks have found the desync.
    let before = "";
    for (let i = 0; i < 100; i++) {
      before = await scrape();
      if (
        gauge(before, "progress_license_desync_count") === 1 &&
        gauge(before, "coupler_metrics_workers_missing") === 0
      )
        break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(gauge(before, "progress_license_desync_count")).toBe(1);

    const repair = await call("progression.sync", {
      method: "POST",
      body: JSON.stringify({ userId, specialization: "PLAYER", source: "license" }),
    });
    expect(repair.status).toBe(200);
    const audit = await call("admin.integrity");
    expect(audit.status).toBe(200);
    const report = (await audit.json()) as { result: { data: { desynced: { count: number } } } };
    expect(report.result.data.desynced.count).toBe(0);
    // One worker ran the audit; the other still holds its start-up check's 1.
    const audits = () =>
      logLines(running.output).filter((l) => l.msg === "request" && l.path === "/trpc/admin.integrity");
    await waitFor(() => audits().length === 1);

    const after = await scrape();
    expect(gauge(after, "progress_license_desync_count")).toBe(0);
    expect(after).toMatch(/^coupler_integrity_findings\{check="desynced"\} 0$/m);
    expect(gauge(after, "coupler_metrics_workers_missing")).toBe(0);
  }, 90_000);
});
