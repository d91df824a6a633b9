import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { startApiProcess } from "./apiProcess.ts";

export interface ApiProcesses {
  urls: string[];
  /** Process ids, for CPU accounting. */
  pids: number[];
  stop(): Promise<void>;
}

/**
 * Starts `count` API processes from the built entry (`node packages/api/dist/main.js`,
 * as deployed) in bench mode (`bench.*` served, logs at warn), each on a free
 * port with its own pool, and waits until each is ready.
 */
export async function startApiProcesses(
  count: number,
  options: {
    databaseUrl: string;
    authSecret: string;
    poolSize: number;
    lockTimeoutMs: number;
    baseEnv: Record<string, string | undefined>;
    /** The Node binary to run them with; default this process's. */
    node?: string | undefined;
    /** Variables over the bench's own (a hot-spot variant's COUPLER_WRITE_COMBINING, API_WORKERS). */
    extraEnv?: Record<string, string> | undefined;
    /** Another API build's main.js (the "before" runs). */
    entry?: string | undefined;
  },
): Promise<ApiProcesses> {
  const env = {
    ...options.baseEnv,
    DATABASE_URL: options.databaseUrl,
    AUTH_SECRET: options.authSecret,
    DB_POOL_SIZE: String(options.poolSize),
    COUPLER_LOCK_TIMEOUT_MS: String(options.lockTimeoutMs),
    COUPLER_BENCH_MODE: "true",
    COUPLER_SEED_DEMO: "false",
    LOG_LEVEL: "warn",
    NODE_ENV: "production",
    // The bench audits around each run itself; a periodic audit would only add load.
    INTEGRITY_CHECK_INTERVAL_MS: "0",
    ...options.extraEnv,
  };
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => startApiProcess({ env, node: options.node, entry: options.entry })),
  );
  const running = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const stop = async () => {
    await Promise.all(running.map((p) => p.stop()));
  };
  const failed = started.find((s) => s.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { urls: running.map((p) => p.url), pids: running.map((p) => p.pid), stop };
}

/** The URL a server process prints as its first JSON line. */
export function firstUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!child.stdout) return reject(new Error("API process has no stdout"));
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error("API process did not start within 60 s")), 60_000);
    lines.on("line", (line) => {
      try {
        const { url } = JSON.parse(line) as { url?: unknown };
        if (typeof url === "string") {
          clearTimeout(timer);
          resolve(url);
        }
      } catch {
        // not our line
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`API process exited with ${code} before it was ready`));
    });
  });
}
