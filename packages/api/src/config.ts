import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEFAULT_IDEMPOTENCY_RETENTION_MS, type CombiningOptions } from "@coupler/core";
import { ConfigError, configFields, parseConfig } from "@coupler/core/config";
import { z } from "zod";
import type { HttpLimits } from "./httpLimits.ts";
import { parseRoleMap, type IdentityProviderSettings } from "./identityProvider.ts";

/**
 * The API's configuration, keyed by environment variable name: core's fields
 * plus the server's own. Executables parse `process.env` with it once, at
 * start-up (`parseApiConfig`), and pass the result on; nothing else reads the
 * environment.
 */
const flag = z
  .enum(["true", "false", "1", "0", ""])
  .default("false")
  .transform((v) => v === "true" || v === "1");

/** on|off|true|false, default on. */
const onOff = z
  .enum(["on", "off", "true", "false"])
  .default("on")
  .transform((v) => v === "on" || v === "true");

/** An optional variable whose empty value (`METRICS_PORT=` in an env file) means unset. */
const unsetWhenEmpty = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (v === "" ? undefined : v), schema.optional());

/** The repository (workspace) root; the same from src/ and from dist/. */
const WORKSPACE_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** `.coupler-data/pg` at the repository root (gitignored). */
const DEFAULT_DATA_DIR = resolve(WORKSPACE_ROOT, ".coupler-data/pg");

/** `.env` at the repository root (gitignored); `.env.example` lists every variable. */
const DEFAULT_ENV_FILE = fileURLToPath(new URL("../../../.env", import.meta.url));

/**
 * Loads the developer's `.env` into `process.env` (variables already set win),
 * before an executable parses its configuration: COUPLER_ENV_FILE names
 * another file, or none when empty (the tests' spawned executables). Returns
 * the file loaded, if any; an unreadable file is a ConfigError.
 */
export function loadEnvFile(): string | undefined {
  const file = process.env.COUPLER_ENV_FILE ?? DEFAULT_ENV_FILE;
  if (!file || !existsSync(file)) return undefined;
  try {
    process.loadEnvFile(file);
  } catch (error) {
    throw new ConfigError(`cannot load ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return file;
}

export const apiConfigSchema = z
  .object({
    ...configFields,
    NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
    PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
    HOST: z.string().min(1).default("127.0.0.1"),
    AUTH_SECRET: z.string().min(32, "AUTH_SECRET must be at least 32 characters").optional(),
    DB_POOL_SIZE: z.coerce.number().int().min(1).max(500).default(20),
    INTEGRITY_CHECK_INTERVAL_MS: z.coerce.number().int().min(0).default(60_000),
    MAX_BATCH_SIZE: z.coerce.number().int().min(1).max(1000).default(50),
    MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(50_000_000).default(100_000),
    SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
    HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
    HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
    HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(65_000),
    HTTP_MAX_CONNECTIONS: z.coerce.number().int().min(0).default(10_000),
    METRICS_TOKEN: unsetWhenEmpty(z.string().min(16, "METRICS_TOKEN must be at least 16 characters")),
    METRICS_PORT: unsetWhenEmpty(z.coerce.number().int().min(0).max(65_535)),
    METRICS_HOST: unsetWhenEmpty(z.string().min(1)),
    AUTH_MAX_TOKEN_LIFETIME: z.coerce.number().int().min(60).max(31_536_000).default(86_400),
    COUPLER_PREPARED_STATEMENTS: onOff,
    COUPLER_IDEMPOTENCY_RETENTION_MS: z.coerce.number().int().min(1000).default(DEFAULT_IDEMPOTENCY_RETENTION_MS),
    COUPLER_IDEMPOTENCY_PURGE_INTERVAL_MS: z.coerce.number().int().min(0).default(600_000),
    // One rule for every executable, whatever its working directory (pnpm start runs at the root, pnpm dev and the
    // token CLI in packages/api): a relative path is relative to the repository root, as .env.example's own line means.
    COUPLER_DATA_DIR: z
      .string()
      .min(1)
      .default(DEFAULT_DATA_DIR)
      .transform((dir) => resolve(WORKSPACE_ROOT, dir)),
    /** HTTP worker processes (node:cluster) sharing PORT; 1 serves from the main process itself. */
    API_WORKERS: z.coerce.number().int().min(1).max(256).default(1),
    COUPLER_ENV_FILE: z.string().optional(),
    COUPLER_BENCH_MODE: flag,
    COUPLER_SEED_DEMO: flag,
    // An external identity provider (docs/guide/identity.md): its RS256/ES256/EdDSA tokens, besides AUTH_SECRET's HS256 ones.
    AUTH_JWKS_URL: unsetWhenEmpty(z.url({ protocol: /^https?$/, error: "AUTH_JWKS_URL must be an http(s) URL" })),
    AUTH_ISSUER: unsetWhenEmpty(z.string().min(1)),
    AUTH_AUDIENCE: unsetWhenEmpty(z.string().min(1)),
    AUTH_ROLE_CLAIM: z.string().min(1).default("role"),
    AUTH_SUBJECT_CLAIM: z.string().min(1).default("sub"),
    AUTH_ROLE_MAP: unsetWhenEmpty(
      z.string().transform((text, ctx) => {
        try {
          return parseRoleMap(text);
        } catch (error) {
          ctx.addIssue({ code: "custom", message: error instanceof Error ? error.message : String(error) });
          return z.NEVER;
        }
      }),
    ),
    AUTH_JWKS_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
    // Upgrades (issue 24): false = never migrate at start; refuse to serve a schema with pending migrations instead.
    COUPLER_MIGRATE_ON_START: z
      .enum(["true", "false", "1", "0"])
      .default("true")
      .transform((v) => v === "true" || v === "1"),
    // Citus direct routing (SCALING.md, "Direct routing"): read only where the database is a Citus coordinator.
    COUPLER_CITUS_ROUTE: z.enum(["direct", "coordinator"]).default("direct"),
    COUPLER_CITUS_WORKER_ADDRESSES: z.string().default("").transform(parseWorkerAddresses),
    COUPLER_CITUS_POOL_SIZE: unsetWhenEmpty(z.coerce.number().int().min(1).max(500)),
    COUPLER_CITUS_REFRESH_MS: z.coerce.number().int().min(100).max(600_000).default(1_000),
  })
  .superRefine((env, ctx) => {
    for (const name of ["AUTH_ISSUER", "AUTH_AUDIENCE"] as const) {
      if (env.AUTH_JWKS_URL && !env[name]) {
        ctx.addIssue({ code: "custom", path: [name], message: `${name} is required with AUTH_JWKS_URL` });
      }
    }
    if (env.NODE_ENV === "production" && !env.AUTH_SECRET) {
      ctx.addIssue({ code: "custom", path: ["AUTH_SECRET"], message: "AUTH_SECRET is required in production" });
    }
    // node:http refuses a header bound longer than the whole-request bound.
    if (env.HTTP_REQUEST_TIMEOUT_MS > 0 && env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
      ctx.addIssue({
        code: "custom",
        path: ["HTTP_HEADERS_TIMEOUT_MS"],
        message: "must not exceed HTTP_REQUEST_TIMEOUT_MS",
      });
    }
  });

export type ApiConfig = z.output<typeof apiConfigSchema>;

/**
 * `nodename:nodeport=host:port` or `nodename:nodeport=postgres://…` entries,
 * separated by commas or whitespace, into a record keyed by the pg_dist_node
 * address. A malformed entry is a ConfigError naming it.
 */
function parseWorkerAddresses(value: string, ctx: z.RefinementCtx): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of value.split(/[\s,]+/).filter(Boolean)) {
    const at = entry.indexOf("=");
    const key = entry.slice(0, at);
    const target = entry.slice(at + 1);
    const address = /^[^=:]+:\d{1,5}$/;
    if (at < 0 || !address.test(key) || !(address.test(target) || /^postgres(ql)?:\/\/\S+$/.test(target))) {
      ctx.addIssue({
        code: "custom",
        message: `"${entry.replace(/\/\/[^@]*@/, "//…@")}" is not nodename:port=host:port or nodename:port=postgres://…`,
      });
      return {};
    }
    out[key] = target;
  }
  return out;
}

/** Validates `source` (an executable's `process.env`); throws a one-line ConfigError naming every bad variable. */
export function parseApiConfig(source: Record<string, string | undefined>): ApiConfig {
  return parseConfig(apiConfigSchema, source);
}

/** The server's tunables, as `serverSettings(config)` derives them from the configuration. */
export interface ServerSettings extends HttpLimits {
  /** 0 picks a free port. */
  port: number;
  host: string;
  poolSize: number;
  lockTimeoutMs: number;
  maxRetries: number;
  /** Serve `bench.*` (the legacy write path). */
  benchMode: boolean;
  /** How often the integrity check refreshes the desync and orphan gauges; 0 = only at start. */
  integrityIntervalMs: number;
  maxBatchSize: number;
  maxBodyBytes: number;
  /** How long `close()` waits for in-flight requests before cutting connections. */
  shutdownTimeoutMs: number;
  /** Level of the logger the server creates when given none. */
  logLevel: string;
  /** When set, /metrics answers only `Authorization: Bearer <metricsToken>`. */
  metricsToken: string | undefined;
  /** When set, /metrics is served on a listener of its own at this port (0 = any free port), and the main port answers it with 404. */
  metricsPort: number | undefined;
  /** The metrics listener's address; the main `host` when unset. */
  metricsHost: string | undefined;
  /** The longest `exp − iat` a token may claim. */
  maxTokenLifetimeSeconds: number;
  /** Named prepared statements per pooled connection; off behind a transaction pooler. */
  preparedStatements: boolean;
  /** How long an idempotency key replays its first result. */
  idempotencyRetentionMs: number;
  /** How often expired idempotency keys are deleted; 0 = never. */
  idempotencyPurgeIntervalMs: number;
  /** Write combining per pair (COUPLER_WRITE_COMBINING, _MAX_BATCH, _MAX_QUEUE). */
  combining: Required<CombiningOptions>;
  /** An external identity provider whose tokens are accepted besides AUTH_SECRET's (AUTH_JWKS_URL and friends). */
  identityProvider: IdentityProviderSettings | undefined;
  /** Routing on a Citus coordinator (COUPLER_CITUS_*); ignored on plain PostgreSQL. */
  citus: CitusSettings;
}

/** How the server routes coupled calls where the database is a Citus coordinator. */
export interface CitusSettings {
  /** `direct`: each learner's calls on the pool of the worker holding its shard; `coordinator`: all through the coordinator. */
  route: "direct" | "coordinator";
  /** pg_dist_node address (`nodename:nodeport`) → `host:port` or a `postgres://` URL the API reaches the node at. */
  addresses: Record<string, string>;
  /** Connections per worker pool (COUPLER_CITUS_POOL_SIZE; DB_POOL_SIZE when unset). */
  poolSizePerWorker: number;
  /** How often the worker map is re-read from the catalog, in ms. */
  refreshIntervalMs: number;
}

/** What `startServer` takes from the configuration (the database and secret are resolved by the caller). */
export function serverSettings(config: ApiConfig): ServerSettings {
  return {
    port: config.PORT,
    host: config.HOST,
    poolSize: config.DB_POOL_SIZE,
    lockTimeoutMs: config.COUPLER_LOCK_TIMEOUT_MS,
    maxRetries: config.COUPLER_MAX_RETRIES,
    benchMode: config.COUPLER_BENCH_MODE,
    integrityIntervalMs: config.INTEGRITY_CHECK_INTERVAL_MS,
    maxBatchSize: config.MAX_BATCH_SIZE,
    maxBodyBytes: config.MAX_BODY_BYTES,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    logLevel: config.LOG_LEVEL,
    headersTimeoutMs: config.HTTP_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_MS,
    keepAliveTimeoutMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    maxConnections: config.HTTP_MAX_CONNECTIONS,
    metricsToken: config.METRICS_TOKEN,
    metricsPort: config.METRICS_PORT,
    metricsHost: config.METRICS_HOST,
    maxTokenLifetimeSeconds: config.AUTH_MAX_TOKEN_LIFETIME,
    preparedStatements: config.COUPLER_PREPARED_STATEMENTS,
    combining: {
      enabled: config.COUPLER_WRITE_COMBINING,
      maxBatchSize: config.COUPLER_WRITE_COMBINING_MAX_BATCH,
      maxQueuePerPair: config.COUPLER_WRITE_COMBINING_MAX_QUEUE,
    },
    idempotencyRetentionMs: config.COUPLER_IDEMPOTENCY_RETENTION_MS,
    idempotencyPurgeIntervalMs: config.COUPLER_IDEMPOTENCY_PURGE_INTERVAL_MS,
    citus: {
      route: config.COUPLER_CITUS_ROUTE,
      addresses: config.COUPLER_CITUS_WORKER_ADDRESSES,
      poolSizePerWorker: config.COUPLER_CITUS_POOL_SIZE ?? config.DB_POOL_SIZE,
      refreshIntervalMs: config.COUPLER_CITUS_REFRESH_MS,
    },
    identityProvider: identityProviderSettings(config),
  };
}

function identityProviderSettings(config: ApiConfig): IdentityProviderSettings | undefined {
  // The schema requires the issuer and audience with a JWKS URL.
  if (!config.AUTH_JWKS_URL || !config.AUTH_ISSUER || !config.AUTH_AUDIENCE) return undefined;
  return {
    jwksUrl: config.AUTH_JWKS_URL,
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
    roleClaim: config.AUTH_ROLE_CLAIM,
    subjectClaim: config.AUTH_SUBJECT_CLAIM,
    roleMap: config.AUTH_ROLE_MAP,
    timeoutMs: config.AUTH_JWKS_TIMEOUT_MS,
  };
}

let defaults: ServerSettings | undefined;

/**
 * `given` with every setting it leaves out (or sets to undefined) filled with
 * the default an unset environment variable has: the schema's defaults,
 * resolved once per process, so the server never states a default itself.
 */
export function resolveServerSettings(given: Partial<ServerSettings>): ServerSettings {
  defaults ??= serverSettings(parseApiConfig({}));
  const resolved: ServerSettings = { ...defaults };
  for (const key of Object.keys(defaults) as (keyof ServerSettings)[]) {
    if (given[key] !== undefined) Object.assign(resolved, { [key]: given[key] });
  }
  return resolved;
}
