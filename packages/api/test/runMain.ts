import { spawn, type ChildProcess, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import { createServer } from "node:net";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/*
 * The API executable as it runs for real: its own process, its own signals.
 * It runs from source (tsx, "source" condition) rather than dist/, because the
 * tests do not build and a dist/ left from an older build could be stale.
 */
export const MAIN = fileURLToPath(new URL("../src/main.ts", import.meta.url));
export const PACKAGE = fileURLToPath(new URL("..", import.meta.url));

export interface RunningMain {
  child: ChildProcess;
  url: string;
  /** Where the banner says to scrape: `${url}/metrics`, or METRICS_PORT's listener. */
  metricsUrl: string;
  /** As the banner prints it: the password redacted. */
  databaseUrl: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every stdout and stderr line so far. */
  output: string[];
}

/**
 * The environment main.ts gets besides the test's own: no `.env` (a
 * developer's file must not leak into tests), a free port, no periodic check.
 */
const BASE_ENV = {
  HOST: "127.0.0.1",
  PORT: "0",
  LOG_LEVEL: "info",
  INTEGRITY_CHECK_INTERVAL_MS: "0",
  COUPLER_ENV_FILE: "",
};

/** Runs main.ts with exactly `env` (plus PATH and BASE_ENV) until it exits; its stdout and stderr. */
export function runMain(
  env: Record<string, string>,
  args: string[] = [],
): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, ["--conditions=source", "--import", "tsx", MAIN, ...args], {
    cwd: PACKAGE,
    env: { PATH: process.env.PATH ?? "", ...BASE_ENV, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs the token CLI (src/cli/token.ts) like runMain runs main.ts. */
export function runToken(env: Record<string, string>, args: string[]): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(
    process.execPath,
    ["--conditions=source", "--import", "tsx", fileURLToPath(new URL("../src/cli/token.ts", import.meta.url)), ...args],
    {
      cwd: PACKAGE,
      env: { PATH: process.env.PATH ?? "", COUPLER_ENV_FILE: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
}

/** Starts main.ts and waits for its banner. */
export async function startMain(env: Record<string, string>): Promise<RunningMain> {
  const child = runMain(env);
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  createInterface({ input: child.stderr }).on("line", (line) => output.push(line));
  const banner = new Promise<{ url: string; metricsUrl: string; databaseUrl: string }>((resolve, reject) => {
    let url: string | undefined;
    let metricsUrl: string | undefined;
    let databaseUrl: string | undefined;
    createInterface({ input: child.stdout }).on("line", (line) => {
      output.push(line);
      url ??= /^ {2}API +(http:\/\/\S+)\/trpc\b/.exec(line)?.[1];
      databaseUrl ??= /^ {2}DATABASE_URL +(postgres\S+)/.exec(line)?.[1];
      metricsUrl ??= /^ {2}health +.*\s(http:\/\/\S+\/metrics)$/.exec(line)?.[1];
      // The banner ends with this line; everything it prints is in `output` by then.
      if (url && metricsUrl && databaseUrl && line.startsWith("Stop with ")) resolve({ url, metricsUrl, databaseUrl });
    });
    void exited.then(({ code }) => reject(new Error(`main exited (${code}) before its banner:\n${output.join("\n")}`)));
  });
  return { child, exited, output, ...(await banner) };
}

export async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The JSON log lines in `output` (the banner and anything else skipped). */
export function logLines(output: readonly string[]): Record<string, unknown>[] {
  return output.flatMap((line) => {
    if (!line.startsWith("{")) return [];
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/** The sum of a counter's or histogram's samples named `name` (e.g. `x_count`) whose labels contain `labels`, in an exposition text. */
export function sampleSum(metrics: string, name: string, labels: string): number {
  return metrics
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/** An unlabelled sample's value (`name value`) in an exposition text; undefined when absent. */
export function gauge(metrics: string, name: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/** A loopback port free a moment ago: the kernel picks it, and it is released for the caller to bind (or to find closed). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}
