import { execFile } from "node:child_process";
import { cpus, hostname, release, totalmem, type } from "node:os";
import { promisify } from "node:util";
import type pg from "pg";
import type { MachineInfo } from "./results.ts";

const exec = promisify(execFile);

/** The machine and the versions a report's numbers came from; PostgreSQL's "not started" without a pool. */
export async function machineInfo(
  pool: pg.Pool | undefined,
  k6Version: string,
  pgbench: string | undefined,
): Promise<MachineInfo> {
  const { rows } = pool
    ? await pool.query<{ version: string }>("select version()")
    : { rows: [{ version: "not started" }] };
  const pgbenchVersion = pgbench
    ? (await exec(pgbench, ["--version"]).catch(() => ({ stdout: "" }))).stdout.trim()
    : "";
  return {
    hostname: hostname(),
    os: `${type()} ${release()}`,
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    postgres: rows[0]?.version ?? "unknown",
    k6: k6Version,
    pgbench: pgbenchVersion || null,
  };
}
