import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { firstUrl } from "../startApiProcesses.ts";

const WORKER = fileURLToPath(new URL("./minimalServerWorker.ts", import.meta.url));

export interface MinimalServerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** The minimal baseline server in its own process, run by `node` (another Node binary for a side-by-side run). */
export async function startMinimalServerProcess(options: {
  node: string;
  databaseUrl: string;
  poolSize: number;
  lockTimeoutMs: number;
  baseEnv: Record<string, string | undefined>;
}): Promise<MinimalServerProcess> {
  const child = spawn(
    options.node,
    [
      "--import",
      "tsx",
      WORKER,
      JSON.stringify({
        databaseUrl: options.databaseUrl,
        poolSize: options.poolSize,
        lockTimeoutMs: options.lockTimeoutMs,
      }),
    ],
    {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
      env: { ...options.baseEnv, NODE_ENV: "production" },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  try {
    const url = await firstUrl(child);
    if (child.pid === undefined) throw new Error("minimal server process has no pid");
    return { url, pid: child.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
