import { pino, stdSerializers, type DestinationStream, type Logger } from "pino";
import { REDACTED, redactSecrets } from "./redact.ts";

export type { Logger };

/** Level of a logger nobody chose one for; executables pass their LOG_LEVEL instead. */
export const DEFAULT_LOG_LEVEL = "info";

const SECRET_KEYS = ["authorization", "password", "secret", "token", "authSecret", "databaseUrl", "connectionString"];

/**
 * Paths pino censors in every logged object: an Authorization header however
 * it is nested (a request, its headers), and anything named like a secret at
 * the top level or one level down. A connection string is censored whole;
 * log `redactUrl(url)` under another name to keep where it points.
 */
export const REDACT_PATHS = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((key) => `*.${key}`),
  "req.headers.authorization",
  "request.headers.authorization",
  "headers.authorization",
  'headers["proxy-authorization"]',
  "*.headers.authorization",
];

/**
 * Errors are serialized as pino does (type, message, stack, cause), then
 * their message and stack are scrubbed: a driver error can quote the
 * connection string it failed with, and a thrown message can quote a header.
 * Only an error's plain fields (strings, numbers, booleans) and its nested
 * errors are kept: an object hung on an error is dropped, because pg-pool
 * attaches the whole pg Client to an idle client's error (`err.client`), with
 * the backend's cancel key (`secretKey`), `processID` and the last query.
 */
function serializeError(error: unknown): unknown {
  return error instanceof Error ? scrub(stdSerializers.err(error), 0) : error;
}

/** A serialized error (its causes and own fields included): strings scrubbed, objects that are not errors dropped. */
function scrub(value: unknown, depth: number): unknown {
  if (typeof value === "string") return redactSecrets(value);
  if (depth > 5 || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.filter(isErrorLike).map((item) => scrub(item, depth + 1));
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, item]) => typeof item !== "object" || item === null || Array.isArray(item) || isErrorLike(item))
      .map(([key, item]) => [key, scrub(item, depth + 1)]),
  );
}

/** A serialized (or live) error: has a string `message` and a `type` or a `stack`. */
function isErrorLike(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const fields = value as Record<string, unknown>;
  return (
    value instanceof Error ||
    (typeof fields.message === "string" && (typeof fields.type === "string" || typeof fields.stack === "string"))
  );
}

/**
 * The default structured logger: JSON lines on stdout (or `destination`),
 * with secrets redacted (`REDACT_PATHS`, error messages scrubbed) so no
 * executable has to remember to.
 */
export function createLogger(
  name = "coupler",
  level: string = DEFAULT_LOG_LEVEL,
  destination?: DestinationStream,
): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    serializers: { err: serializeError },
  };
  return destination ? pino(options, destination) : pino(options);
}
