import { z } from "zod";

/**
 * Core's environment, read once and validated. Everything else receives
 * options; only this module touches `process.env`.
 */
const schema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// or postgresql:// URL")
    .optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  COUPLER_LOCK_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(2000),
  COUPLER_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(3),
});

export type CoreEnv = z.infer<typeof schema>;

export function parseCoreEnv(source: NodeJS.ProcessEnv = process.env): CoreEnv {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid environment:\n${lines.join("\n")}`);
  }
  return parsed.data;
}

let cached: CoreEnv | undefined;
/** The validated environment of this process. */
export function coreEnv(): CoreEnv {
  cached ??= parseCoreEnv();
  return cached;
}
