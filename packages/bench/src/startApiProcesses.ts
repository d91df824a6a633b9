import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface ApiProcesses {
  urls: string[];
  /** Process ids, for CPU accounting. */
  pids: number[];
  stop(): Promise<void>;
}

const WORKER = fileURLToPath(new URL("./apiWorker.ts", import.meta.url));

/**
 * Starts `count` API processes in bench mode (`bench.*` served, logs at warn),
 * each on a free port with its own pool, and waits until each printed its URL.
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
  },
): Promise<ApiProcesses> {
  const children: ChildProcess[] = [];
  const stop = async () => {
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.kill("SIGTERM");
          }),
      ),
    );
  };
  try {
    const urls = await Promise.all(
      Array.from({ length: count }, () => {
        const child = spawn(
          options.node ?? process.execPath,
          ["--import", "tsx", WORKER, JSON.stringify({ databaseUrl: options.databaseUrl, authSecret: options.authSecret, poolSize: options.poolSize, lockTimeoutMs: options.lockTimeoutMs })],
          {
            cwd: fileURLToPath(new URL("..", import.meta.url)),
            env: { ...options.baseEnv, COUPLER_BENCH_MODE: "true", LOG_LEVEL: "warn", NODE_ENV: "production", AUTH_SECRET: options.authSecret },
            stdio: ["ignore", "pipe", "inherit"],
          },
        );
        children.push(child);
        return firstUrl(child);
      }),
    );
    return { urls, pids: children.map((c) => c.pid).filter((pid) => pid !== undefined), stop };
  } catch (error) {
    await stop();
    throw error;
  }
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
