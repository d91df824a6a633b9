import { randomBytes } from "node:crypto";
import type { CitusRoute } from "@coupler/core";
import { signToken } from "@coupler/api";
import { startApiProcess } from "@coupler/bench/apiProcess";
import { childProcessEnv } from "./env.ts";
import { HttpDriver } from "./httpDriver.ts";
import type { HttpTarget } from "./chaosOptions.ts";

export interface RunningApi {
  driver: HttpDriver;
  victimApplicationName: string;
  baseUrl: string;
  authSecret: string;
  routing(): Promise<{ routeMisses: number; mapChanges: number }>;
  close(): Promise<void>;
}

/** application_name the API gives its pool (the kill loop's targets). */
export const API_APPLICATION_NAME = "coupler-api";

/**
 * Runs the API as its own process, from its built entry (`node packages/api/dist/main.js`), on
 * 127.0.0.1 against the chaos database: a separate process because that is
 * how it runs for real, and so the kill loop can target its pool alone.
 */
export function apiHttpTarget(
  options: { poolSize?: number } = {},
): HttpTarget & { start(databaseUrl: string, server?: unknown, citusRoute?: CitusRoute): Promise<RunningApi> } {
  return {
    async start(databaseUrl, _server, citusRoute = "direct") {
      const authSecret = randomBytes(32).toString("hex");
      const api = await startApiProcess({
        env: childProcessEnv({
          DATABASE_URL: databaseUrl,
          AUTH_SECRET: authSecret,
          COUPLER_SEED_DEMO: "false",
          COUPLER_BENCH_MODE: "false",
          LOG_LEVEL: "error",
          DB_POOL_SIZE: String(options.poolSize ?? 10),
          INTEGRITY_CHECK_INTERVAL_MS: "0",
          // Read only on a Citus coordinator; said here so a run states what it measured.
          COUPLER_CITUS_ROUTE: citusRoute,
          COUPLER_WRITE_COMBINING: "true",
        }),
        detached: true, // its own process group, so close() stops it and anything it started
      });
      const adminToken = await signToken({ sub: 1, role: "admin" }, authSecret);
      return {
        driver: new HttpDriver(api.url, adminToken),
        victimApplicationName: API_APPLICATION_NAME,
        baseUrl: api.url,
        authSecret,
        routing: async () => {
          const text = await (await fetch(`${api.url}/metrics`)).text();
          return {
            routeMisses: counterOf(text, "coupler_citus_route_misses_total"),
            mapChanges: counterOf(text, "coupler_citus_map_changes_total"),
          };
        },
        close: api.stop,
      };
    },
  };
}

/** A counter's value in a Prometheus text exposition (0 when absent). */
function counterOf(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return match?.[1] ? Number(match[1]) : 0;
}
