import { z } from "zod";
import { useCouplerIssueMessages } from "./issueMessages.ts";

useCouplerIssueMessages();

/**
 * Configuration fields core's options are made from, keyed by their
 * environment variable names (a contract: deployments set these names).
 * Core itself reads no environment: each executable composes these with its
 * own fields and parses `process.env` once, at start-up, with `parseConfig`.
 */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

export const configFields = {
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// or postgresql:// URL")
    .optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  COUPLER_LOCK_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(2000),
  COUPLER_MAX_RETRIES: z.coerce.number().int().min(0).max(20).default(3),
  /** Write combining (CouplerOptions.combining): on|off|true|false, default on. */
  COUPLER_WRITE_COMBINING: z
    .enum(["on", "off", "true", "false"])
    .default("on")
    .transform((v) => v === "on" || v === "true"),
  /** Most calls one combined transaction runs. */
  COUPLER_WRITE_COMBINING_MAX_BATCH: z.coerce.number().int().min(1).max(10_000).default(64),
  /** Most calls that may wait for one pair in one process; more get OVERLOADED. */
  COUPLER_WRITE_COMBINING_MAX_QUEUE: z.coerce.number().int().min(0).max(1_000_000).default(1024),
};

/** For executables that need only a database. */
export const databaseConfig = z.object({ DATABASE_URL: configFields.DATABASE_URL });

/** Bad configuration (an environment variable or a command-line flag); executables exit with `exitCode`. */
export class ConfigError extends Error {
  override name = "ConfigError";
  /** EX_USAGE-like: the caller, not the program, has to change something. */
  readonly exitCode = 2;
}

/** Parses `source` (an executable's `process.env`) with `schema`; a bad value throws one ConfigError naming every field. */
export function parseConfig<T extends z.ZodType>(schema: T, source: Record<string, string | undefined>): z.output<T> {
  const parsed = schema.safeParse(source);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  throw new ConfigError(`invalid configuration: ${issues.join("; ")}`);
}

/** For executables: runs `read`, and on a ConfigError prints its one line (no stack) and exits with its code. */
export function orExit<T>(read: () => T, program: string): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${program}: ${error.message}\n`);
    process.exit(error.exitCode);
  }
}
