import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { findExecutable } from "./findExecutable.ts";
import { K6NotFoundError } from "./K6NotFoundError.ts";
import { parseK6Summary, type K6Summary } from "./k6Summary.ts";

/** k6 from K6_BIN, else from PATH; throws K6NotFoundError (with install help) when neither has it. */
export function findK6(env: { K6_BIN?: string | undefined; PATH: string; PATHEXT?: string | undefined }): string {
  const found = findExecutable("k6", env.K6_BIN, env.PATH, { pathExt: env.PATHEXT });
  if (!found) throw new K6NotFoundError(env.K6_BIN);
  return found;
}

/** k6's own version line, e.g. "k6 v0.48.0 (go1.19.8, linux/amd64)". */
export async function k6Version(k6: string, base: K6BaseEnv): Promise<string> {
  const { stdout } = await run(k6, ["version"], k6ChildEnv(base), undefined);
  return stdout.trim();
}

/** k6 exits 99 when thresholds fail: the run happened and its summary is complete. */
export const K6_THRESHOLDS_FAILED = 99;

/** k6 needs no more of our environment than a PATH, a HOME and the user's own `K6_*` settings. */
export interface K6BaseEnv {
  PATH: string;
  HOME: string;
  /** The caller's `K6_*` variables (K6_OUT, …), see `k6UserEnv`. */
  K6_USER?: Record<string, string> | undefined;
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
  base: K6BaseEnv,
  scenario: Record<string, string>,
  summaryFile: string,
  logFile: string,
  onStart?: (pid: number) => void,
): Promise<K6Run> {
  const env = k6ChildEnv(base, { ...scenario, SUMMARY_OUT: summaryFile });
  const { code } = await run(k6, ["run", "--quiet", "--no-color", "--no-usage-report", script], env, logFile, onStart);
  if (code !== 0 && code !== K6_THRESHOLDS_FAILED) {
    throw new Error(`k6 exited with ${code} running ${script}; see ${logFile}`);
  }
  const summary = parseK6Summary(JSON.parse(await readFile(summaryFile, "utf8")));
  return { exitCode: code, summary };
}

/**
 * k6's environment: a PATH, a HOME, the user's `K6_*` settings (so K6_OUT
 * and friends work as k6 documents them) and the scenario's settings, which
 * win. Nothing else of ours: no DATABASE_URL or AUTH_SECRET.
 */
export function k6ChildEnv(base: K6BaseEnv, scenario: Record<string, string> = {}): Record<string, string> {
  return { PATH: base.PATH, HOME: base.HOME, ...base.K6_USER, ...scenario };
}

function run(
  command: string,
  args: string[],
  env: Record<string, string>,
  logFile: string | undefined,
  onStart?: (pid: number) => void,
) {
  return new Promise<{ code: number; stdout: string }>((resolve, reject) => {
    const child = spawn(command, args, {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    if (child.pid !== undefined) onStart?.(child.pid);
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
