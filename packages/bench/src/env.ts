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
  HOME: z.string().default("/tmp"),
  /** An existing PostgreSQL to bench against; else an embedded one is started. */
  DATABASE_URL: configFields.DATABASE_URL,
});

export type BenchEnv = z.infer<typeof schema>;

export function parseBenchEnv(source: Record<string, string | undefined>): BenchEnv {
  return parseConfig(schema, source);
}
