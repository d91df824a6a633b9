import { z } from "zod";

/**
 * The bench's environment, read once and validated. Everything else receives
 * options; only this module touches `process.env`.
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
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// or postgresql:// URL")
    .optional(),
});

export type BenchEnv = z.infer<typeof schema>;

export function parseBenchEnv(source: NodeJS.ProcessEnv = process.env): BenchEnv {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid environment:\n${lines.join("\n")}`);
  }
  return parsed.data;
}

let cached: BenchEnv | undefined;
/** The validated environment of this process. */
export function benchEnv(): BenchEnv {
  cached ??= parseBenchEnv();
  return cached;
}

/** The environment child processes (API processes, workers) start from. */
export function inheritedEnv(): Record<string, string | undefined> {
  return { ...process.env };
}

/**
 * The caller's `K6_*` settings (K6_OUT, K6_WEB_DASHBOARD, K6_CLOUD_TOKEN, …),
 * which k6 reads from its environment, for the k6 child that otherwise gets
 * only PATH, HOME and the scenario's own settings. K6_BIN is the bench's own.
 */
export function k6UserEnv(source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (name.startsWith("K6_") && name !== "K6_BIN" && value !== undefined) env[name] = value;
  }
  return env;
}
