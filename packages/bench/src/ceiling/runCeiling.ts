import { spawn } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { latencyStats, type LatencyStats } from "../latencyStats.ts";
import type { LearnerRange } from "../seedLearners.ts";
import { pgbenchScript } from "./levelUpTransaction.ts";

/** What the ceiling measured: the bare transaction at the saturation concurrency. */
export interface CeilingResult {
  latency: LatencyStats;
  /** Transactions per second. */
  throughput: number;
  errors: number;
}

export interface CeilingOptions {
  databaseUrl: string;
  concurrency: number;
  durationSeconds: number;
  learners: LearnerRange;
  lockTimeoutMs: number;
  xp: { min: number; max: number };
  env: Record<string, string | undefined>;
}

const WORKER = fileURLToPath(new URL("./ceilingWorker.ts", import.meta.url));
const WARMUP_SECONDS = 2;

/**
 * The level-up transaction through node-postgres from a worker process.
 * `onPhase` hears when the measured seconds start and end, with the worker's pid.
 */
export async function runRawPgCeiling(
  options: CeilingOptions,
  onPhase?: (phase: "measuring" | "measured", pid: number) => void,
): Promise<CeilingResult> {
  const args = {
    databaseUrl: options.databaseUrl,
    concurrency: options.concurrency,
    warmupSeconds: WARMUP_SECONDS,
    durationSeconds: options.durationSeconds,
    learnerFirst: options.learners.first,
    learnerCount: options.learners.count,
    specialization: "PLAYER",
    lockTimeoutMs: options.lockTimeoutMs,
    xp: options.xp,
  };
  const { code, stdout, stderr } = await run(
    process.execPath,
    ["--conditions=source", "--import", "tsx", WORKER, JSON.stringify(args)],
    options.env,
    fileURLToPath(new URL("../..", import.meta.url)),
    (line, pid) => {
      const phase = /^\{"phase":"(measuring|measured)"\}$/.exec(line)?.[1];
      if (phase === "measuring" || phase === "measured") onPhase?.(phase, pid);
    },
  );
  const line = stdout.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || line === "") throw new Error(`raw-pg ceiling worker failed (${code}): ${stderr.slice(-2000)}`);
  const result = JSON.parse(line) as { latency: LatencyStats; errors: number; durationSeconds: number };
  return { latency: result.latency, errors: result.errors, throughput: result.latency.count / result.durationSeconds };
}

/**
 * The same transaction as a pgbench script (extended protocol, one connection
 * per client, like the worker). Latencies come from pgbench's per-transaction log.
 */
export async function runPgbench(
  pgbench: string,
  options: CeilingOptions & { workDir: string },
): Promise<CeilingResult> {
  const script = join(options.workDir, "level-up.pgbench.sql");
  await writeFile(script, pgbenchScript(options.lockTimeoutMs));
  const prefix = join(options.workDir, "pgbench-log");
  const args = [
    "--no-vacuum",
    "--protocol=extended",
    `--client=${options.concurrency}`,
    `--jobs=${Math.min(2, options.concurrency)}`,
    `--time=${options.durationSeconds}`,
    `--file=${script}`,
    "--log",
    `--log-prefix=${prefix}`,
    `--define=first=${options.learners.first}`,
    `--define=last=${options.learners.first + options.learners.count - 1}`,
    `--define=xpmin=${options.xp.min}`,
    `--define=xpmax=${options.xp.max}`,
    options.databaseUrl,
  ];
  const { code, stdout, stderr } = await run(pgbench, args, options.env, options.workDir);
  await writeFile(join(options.workDir, "pgbench.out.txt"), `${stdout}\n${stderr}`);
  if (code !== 0) throw new Error(`pgbench exited with ${code}: ${stderr.slice(-2000)}`);
  const latencies: number[] = [];
  let errors = 0;
  for (const file of (await readdir(options.workDir)).filter((f) => f.startsWith("pgbench-log"))) {
    for (const line of (await readFile(join(options.workDir, file), "utf8")).split("\n")) {
      // client_id transaction_no time script_no time_epoch time_us; time is µs, or "failed"/"skipped".
      const fields = line.split(" ");
      if (fields.length < 6) continue;
      const micros = Number(fields[2]);
      if (Number.isFinite(micros)) latencies.push(micros / 1000);
      else errors++;
    }
  }
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)?.[1];
  return {
    latency: latencyStats(latencies),
    errors,
    throughput: tps ? Number(tps) : latencies.length / options.durationSeconds,
  };
}

function run(
  command: string,
  args: string[],
  env: Record<string, string | undefined>,
  cwd: string,
  onLine?: (line: string, pid: number) => void,
) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      const text = c.toString();
      if (onLine && child.pid !== undefined) for (const line of text.split("\n")) onLine(line.trim(), child.pid);
      stdout += text;
    });
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
