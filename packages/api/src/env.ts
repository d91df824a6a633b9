import { fileURLToPath } from "node:url";
import { z } from "zod";

/**
 * The API's environment, read once and validated at start-up. Everything else
 * receives options; only this module touches `process.env`.
 */
const flag = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");

/** `.coupler-data/pg` at the repository root (gitignored). */
const DEFAULT_DATA_DIR = fileURLToPath(new URL("../../../.coupler-data/pg", import.meta.url));

const schema = z
  .object({
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// or postgresql:// URL")
      .optional(),
    PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
    HOST: z.string().min(1).default("127.0.0.1"),
    AUTH_SECRET: z.string().min(32, "AUTH_SECRET must be at least 32 characters").optional(),
    DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
    COUPLER_LOCK_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(2000),
    COUPLER_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(3),
    INTEGRITY_CHECK_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    MAX_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(50),
    MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(50_000_000).default(100_000),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
    COUPLER_DATA_DIR: z.string().min(1).default(DEFAULT_DATA_DIR),
    COUPLER_BENCH_MODE: flag,
    COUPLER_SEED_DEMO: flag,
  })
  .superRefine((env, ctx) => {
    if (env.NODE_ENV === "production" && !env.AUTH_SECRET) {
      ctx.addIssue({ code: "custom", path: ["AUTH_SECRET"], message: "AUTH_SECRET is required in production" });
    }
  });

export type ApiEnv = z.infer<typeof schema>;

export function parseApiEnv(source: NodeJS.ProcessEnv = process.env): ApiEnv {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid environment:\n${lines.join("\n")}`);
  }
  return parsed.data;
}

let cached: ApiEnv | undefined;
/** The validated environment of this process. */
export function apiEnv(): ApiEnv {
  cached ??= parseApiEnv();
  return cached;
}
