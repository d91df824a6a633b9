import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { signToken } from "@coupler/api";
import { freePort } from "@coupler/embedded";
import { childProcessEnv } from "./env.ts";
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
 * Runs the API as its own process, from the API package's `./main` entry, on
 * 127.0.0.1 against the chaos database: a separate process because that is
 * how it runs for real, and so the kill loop can target its pool alone.
 */
export function apiHttpTarget(options: { poolSize?: number } = {}): HttpTarget & { start(databaseUrl: string): Promise<RunningApi> } {
  return {
    async start(databaseUrl) {
      const port = await freePort();
      const authSecret = randomBytes(32).toString("hex");
      const child = spawn(process.execPath, apiMainArgs(), {
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
        detached: true, // its own process group, so close() stops it and anything it started
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
      const adminToken = await signToken({ sub: 1, role: "admin" }, authSecret);
      return { driver: new HttpDriver(url, adminToken), victimApplicationName: API_APPLICATION_NAME, baseUrl: url, authSecret, close };
    },
  };
}

/** Node arguments that run the API's main entry: through tsx while it resolves to TypeScript source, directly once it is built JS. */
function apiMainArgs(): string[] {
  const main = fileURLToPath(import.meta.resolve("@coupler/api/main"));
  return main.endsWith(".ts") ? ["--import", import.meta.resolve("tsx"), main] : [main];
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
