import { configFields, parseConfig } from "@coupler/core/config";
import { z } from "zod";

/**
 * The bench's environment: the CLI parses `process.env` with it once, at
 * start-up, and passes the result on.
 */
const schema = z.object({
  /** Path of the k6 binary; else k6 is looked up on PATH. */
  K6_BIN: z.string().min(1).optional(),
  /** Path of pgbench; else it is looked up on PATH (the ceiling run skips it when absent). */
  PGBENCH_BIN: z.string().min(1).optional(),
  PATH: z.string().default(""),
  /** Windows: the extensions an executable on PATH may have (k6 is k6.exe there). */
  PATHEXT: z.string().optional(),
  HOME: z.string().default("/tmp"),
  /** Node binary for the API processes and the minimal server (as --node). */
  BENCH_NODE: z.string().min(1).optional(),
  /** An existing PostgreSQL to bench against; else an embedded one is started. */
  DATABASE_URL: configFields.DATABASE_URL,
});

export type BenchEnv = z.infer<typeof schema> & { K6_USER: Record<string, string> };

export function parseBenchEnv(source: Record<string, string | undefined>): BenchEnv {
  return { ...parseConfig(schema, source), K6_USER: k6UserEnv(source) };
}

/**
 * The caller's `K6_*` settings (K6_OUT, K6_WEB_DASHBOARD, K6_CLOUD_TOKEN, …),
 * which k6 reads from its environment, for the k6 child that otherwise gets
 * only PATH, HOME and the scenario's own settings. K6_BIN is the bench's own.
 */
export function k6UserEnv(source: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (name.startsWith("K6_") && name !== "K6_BIN" && value !== undefined) env[name] = value;
  }
  return env;
}
