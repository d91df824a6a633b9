import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase } from "@coupler/core";
import { createCoupler, enrolledUser, type TestDatabase } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import { signToken } from "../src/auth.ts";
import { isRunning, logLines, sampleSum, startMain, waitFor } from "./runMain.ts";

const CALLS = 24;

describe("the API executable with API_WORKERS=2", () => {
  let database: TestDatabase;
  const secret = randomBytes(32).toString("hex");
  beforeAll(async () => {
    database = await useTestDatabase();
  });
  afterAll(() => database.drop());

  it("spreads calls over both workers, counts all of them in /metrics, restarts a dead worker, and drains every worker on SIGTERM", async () => {
    const setup = createDatabase({ connectionString: database.url, max: 2 });
    const userId = await enrolledUser(setup, createCoupler(setup));
    await setup.close();
    const token = await signToken({ sub: 1, role: "instructor" }, secret, { expiresIn: "5m" });

    const main = await startMain({ DATABASE_URL: database.url, AUTH_SECRET: secret, API_WORKERS: "2" });
    try {
      const workerPids = () =>
        new Set(
          logLines(main.output)
            .filter((l) => l.msg === "coupler API listening")
            .map((l) => Number(l.pid)),
        );
      await waitFor(() => workerPids().size === 2); // the workers' log lines may trail the banner
      expect(workerPids().has(main.child.pid ?? -1)).toBe(false);

      for (let i = 0; i < CALLS; i++) {
        // A new connection each time (no keep-alive), so the primary hands each call to the next worker.
        const response = await fetch(`${main.url}/trpc/progression.levelUp`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}`, connection: "close" },
          body: JSON.stringify({ userId, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
        });
        expect(response.status).toBe(200);
      }
      const served = () =>
        logLines(main.output).filter((l) => l.msg === "request" && l.path === "/trpc/progression.levelUp");
      await waitFor(() => served().length === CALLS);
      expect(new Set(served().map((l) => l.pid)).size).toBe(2);

      // Whichever worker answers /metrics, it reports every worker's calls.
      for (let i = 0; i < 2; i++) {
        const metrics = await (await fetch(`${main.url}/metrics`, { headers: { connection: "close" } })).text();
        expect(sampleSum(metrics, "coupler_operations_total", 'operation="levelUp"')).toBe(CALLS);
        expect(sampleSum(metrics, "http_request_duration_seconds_count", 'procedure="progression.levelUp"')).toBe(
          CALLS,
        );
      }

      // A worker that dies unexpectedly is replaced.
      const [victim] = workerPids();
      process.kill(victim ?? -1, "SIGKILL");
      await waitFor(() =>
        logLines(main.output).some(
          (l) => l.msg === "API worker died unexpectedly; starting another" && l.worker === victim,
        ),
      );
      await waitFor(() => workerPids().size === 3);
      expect((await fetch(`${main.url}/healthz`)).status).toBe(200);

      main.child.kill("SIGTERM");
      expect(await main.exited).toEqual({ code: 0, signal: null });
      for (const pid of workerPids()) expect(isRunning(pid)).toBe(false);
      expect(
        logLines(main.output).filter((l) => l.msg === "API worker died unexpectedly; starting another"),
      ).toHaveLength(1);
    } finally {
      main.child.kill("SIGKILL");
    }
  }, 60_000);
});
