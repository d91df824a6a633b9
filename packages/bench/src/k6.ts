import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { findExecutable } from "./findExecutable.ts";
import { K6NotFoundError } from "./K6NotFoundError.ts";
import { parseK6Summary, type K6Summary } from "./k6Summary.ts";

/** k6 from K6_BIN, else from PATH; throws K6NotFoundError (with install help) when neither has it. */
export function findK6(env: { K6_BIN?: string | undefined; PATH: string }): string {
  const found = findExecutable("k6", env.K6_BIN, env.PATH);
  if (!found) throw new K6NotFoundError(env.K6_BIN);
  return found;
}

/** k6's own version line, e.g. "k6 v0.48.0 (go1.19.8, linux/amd64)". */
export async function k6Version(k6: string, base: K6BaseEnv): Promise<string> {
  const { stdout } = await run(k6, ["version"], { PATH: base.PATH, HOME: base.HOME }, undefined);
  return stdout.trim();
}

/** k6 exits 99 when thresholds fail: the run happened and its summary is complete. */
export const K6_THRESHOLDS_FAILED = 99;

/** k6 needs no more of our environment than a PATH and a HOME. */
export interface K6BaseEnv {
  PATH: string;
  HOME: string;
}

export interface K6Run {
  exitCode: number;
  summary: K6Summary;
}

/**
 * Runs one scenario with k6, its output to `logFile`, and reads the summary
 * the scenario's handleSummary wrote to `summaryFile`. Settings go in through
 * the environment (`__ENV`), tokens included, so they stay off the command line.
 */
export async function runK6(
  k6: string,
  script: string,
  env: K6BaseEnv & Record<string, string>,
  summaryFile: string,
  logFile: string,
): Promise<K6Run> {
  const { code } = await run(k6, ["run", "--quiet", "--no-color", "--no-usage-report", script], { ...env, SUMMARY_OUT: summaryFile }, logFile);
  if (code !== 0 && code !== K6_THRESHOLDS_FAILED) {
    throw new Error(`k6 exited with ${code} running ${script}; see ${logFile}`);
  }
  const summary = parseK6Summary(JSON.parse(await readFile(summaryFile, "utf8")));
  return { exitCode: code, summary };
}

function run(command: string, args: string[], env: Record<string, string>, logFile: string | undefined) {
  return new Promise<{ code: number; stdout: string }>((resolve, reject) => {
    const child = spawn(command, args, {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    const log = logFile ? createWriteStream(logFile) : undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      log?.write(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => log?.write(chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      log?.end();
      resolve({ code: code ?? 1, stdout });
    });
  });
}
