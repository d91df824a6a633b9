import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@coupler/embedded";

export interface ApiProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** SIGTERM (to its process group when detached), then waits for the drain and exit. */
  stop(): Promise<void>;
}

/**
 * The API's built executable, `exports["./main"].default` of @coupler/api
 * (packages/api/dist/main.js): what `node packages/api/dist/main.js` runs in
 * production. Found from the package's own manifest, because this process
 * may resolve workspace packages to their sources (the "source" condition).
 */
export function builtApiMain(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve("@coupler/api/main")));
  while (!existsSync(join(dir, "package.json"))) dir = dirname(dir);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    exports: Record<string, { default: string }>;
  };
  const entry = join(dir, manifest.exports["./main"]?.default ?? "dist/main.js");
  if (!existsSync(entry)) throw new Error(`the API is not built (${entry} is missing): run pnpm build`);
  return entry;
}

/**
 * Starts the built API as its own process on 127.0.0.1 and a free port, with
 * `env` as its whole environment (plus PORT and HOST), and waits until
 * /readyz answers 200.
 */
export async function startApiProcess(options: {
  env: Record<string, string | undefined>;
  /** The Node binary; default this process's. */
  node?: string | undefined;
  /** Its own process group, so stop() also reaches anything it started. */
  detached?: boolean;
  stdout?: "ignore" | "inherit" | "pipe";
  /** "pipe" to read what it writes to stderr from `child.stderr` (the security probes check it for secrets). */
  stderr?: "inherit" | "pipe";
  /** Another build's main.js to run instead of this workspace's (the bench's "before" runs). */
  entry?: string | undefined;
}): Promise<ApiProcess> {
  const port = await freePort();
  // A launcher like pnpm start: the API stops if this process dies without stopping it.
  // (An older build given as `entry` ignores the flag and always stopped with its parent.)
  const child = spawn(options.node ?? process.execPath, [options.entry ?? builtApiMain(), "--stop-with-parent"], {
    env: { ...options.env, PORT: String(port), HOST: "127.0.0.1" },
    stdio: ["ignore", options.stdout ?? "ignore", options.stderr ?? "inherit"],
    detached: options.detached ?? false,
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const gone = new Promise((resolve) => child.once("exit", resolve));
    const signal = (name: NodeJS.Signals) =>
      options.detached && child.pid ? process.kill(-child.pid, name) : child.kill(name);
    signal("SIGTERM");
    const timer = setTimeout(() => signal("SIGKILL"), 15_000);
    await gone;
    clearTimeout(timer);
  };
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`the API exited with ${code} before it was ready`))),
  );
  exited.catch(() => {});
  try {
    await Promise.race([waitReady(url, 60_000), exited]);
    if (child.pid === undefined) throw new Error("API process has no pid");
    return { url, pid: child.pid, child, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the API at ${url} did not become ready within ${timeoutMs} ms`);
}
