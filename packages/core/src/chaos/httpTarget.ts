import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { childProcessEnv } from "./childProcessEnv.ts";
import { freePort } from "../testing/embeddedPostgres.ts";
import { HttpDriver } from "./httpDriver.ts";
import type { HttpTarget } from "./runChaos.ts";

export interface RunningApi {
  driver: HttpDriver;
  victimApplicationName: string;
  baseUrl: string;
  authSecret: string;
  close(): Promise<void>;
}

/** application_name the API gives its pool (the kill loop's targets). */
export const API_APPLICATION_NAME = "coupler-api";

/**
 * Runs the API as its own process (`pnpm --filter @coupler/api start`) on
 * 127.0.0.1 against the chaos database. A separate process because core may
 * not depend on the API package, and because that is how it runs for real.
 */
export function apiHttpTarget(options: { poolSize?: number } = {}): HttpTarget & { start(databaseUrl: string): Promise<RunningApi> } {
  return {
    async start(databaseUrl) {
      const port = await freePort();
      const authSecret = randomBytes(32).toString("hex");
      const child = spawn("pnpm", ["--filter", "@coupler/api", "start"], {
        env: childProcessEnv({
          DATABASE_URL: databaseUrl,
          PORT: String(port),
          HOST: "127.0.0.1",
          AUTH_SECRET: authSecret,
          COUPLER_SEED_DEMO: "false",
          COUPLER_BENCH_MODE: "false",
          LOG_LEVEL: "error",
          DB_POOL_SIZE: String(options.poolSize ?? 10),
          INTEGRITY_CHECK_INTERVAL_MS: "0",
        }),
        stdio: ["ignore", "ignore", "inherit"],
        detached: true, // its own process group, so close() stops pnpm and the node child together
      });
      const url = `http://127.0.0.1:${port}`;
      const exited = new Promise<never>((_, reject) => child.once("exit", (code) => reject(new Error(`the API exited early (code ${code})`))));
      exited.catch(() => {});
      await Promise.race([waitReady(url, 60_000), exited]);
      const close = async () => {
        if (child.exitCode !== null || child.pid === undefined) return;
        const gone = new Promise((resolve) => child.once("exit", resolve));
        process.kill(-child.pid, "SIGTERM");
        const timer = setTimeout(() => child.pid && process.kill(-child.pid, "SIGKILL"), 15_000);
        await gone;
        clearTimeout(timer);
      };
      return { driver: new HttpDriver(url, authSecret), victimApplicationName: API_APPLICATION_NAME, baseUrl: url, authSecret, close };
    },
  };
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the API at ${url} did not become ready within ${timeoutMs} ms`);
}
