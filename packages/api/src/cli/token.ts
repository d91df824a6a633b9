/**
 * Mints a token: `pnpm --silent --filter @coupler/api token --sub 1 --role admin [--expires 1h]`.
 * Prints only the token on stdout (so `TOKEN=$(…)` works; `--silent` keeps
 * pnpm's own header off stdout). Signs with the secret the API it names
 * uses: AUTH_SECRET, or the development secret a `pnpm start` on the same
 * COUPLER_DATA_DIR generated (saying so on stderr; never a new one). Checks
 * the token as that API would (AUTH_MAX_TOKEN_LIFETIME included) before
 * printing it. A bad flag, environment or lifetime is one line on stderr and
 * exit code 2.
 */
import { decodeJwt } from "jose";
import { ROLES, authenticate, secretKey, signToken, type Role } from "../auth.ts";
import { resolveAuthSecret } from "../devSecret.ts";
import { ConfigError, orExit } from "@coupler/core/config";
import { loadEnvFile, parseApiConfig } from "../config.ts";
import { parseFlags } from "./parseFlags.ts";

const USAGE = `usage: token --sub <user id> --role ${ROLES.join("|")} [--expires <time span>]`;
const HELP = `${USAGE}

  --sub <user id>   the user the token speaks for (a positive integer; the JWT's sub)
  --role <role>     ${ROLES.join(", ")} (what the token may call)
  --expires <span>  lifetime: seconds (3600, as AUTH_MAX_TOKEN_LIFETIME is given) or a span such
                    as 30m, 1h, 12h (default 1h); more than 0, and at most AUTH_MAX_TOKEN_LIFETIME
                    (24 h by default): a longer one is refused here, as the API would refuse it
  -h, --help        this text

Prints a JWT on stdout alone:
  TOKEN=$(pnpm --silent --filter @coupler/api token --sub 2 --role instructor)
It is signed with AUTH_SECRET, or else with the development secret \`pnpm start\`
generated beside COUPLER_DATA_DIR (<data dir>/../auth-secret; stderr names the file).
Run it with the same AUTH_SECRET or COUPLER_DATA_DIR as the API, or the API answers
"invalid token". Reads the repository's .env like the API does.
`;

const args = orExit(() => {
  const values = parseFlags("pnpm --silent --filter @coupler/api token --help", {
    sub: { type: "string" },
    role: { type: "string" },
    expires: { type: "string", default: "1h" },
  });
  if (!values) return undefined;
  const sub = Number(values.sub);
  if (!Number.isInteger(sub) || sub < 1) throw new ConfigError(`--sub must be a positive integer user id; ${USAGE}`);
  if (!isRole(values.role)) throw new ConfigError(`--role must be one of ${ROLES.join(", ")}; ${USAGE}`);
  return { sub, role: values.role, expires: values.expires ?? "1h" };
}, "token");
if (!args) {
  process.stdout.write(HELP);
  process.exit(0);
}
orExit(loadEnvFile, "token");
const config = orExit(() => parseApiConfig(process.env), "token");
// The same secret the server uses: AUTH_SECRET, or the persisted development one (never a fresh one).
const { secret, source } = await resolveAuthSecret(config, { create: false }).catch(exitOnConfigError);
const fail = (message: string): never => exitOnConfigError(new ConfigError(message));
// Plain seconds, as AUTH_MAX_TOKEN_LIFETIME is written; anything else is a jose time span, checked by jose when signing.
const expiresIn = /^\d+$/.test(args.expires) ? Number(args.expires) : args.expires;
const token = await signToken({ sub: args.sub, role: args.role }, secret, { expiresIn }).catch((error: unknown) =>
  fail(`--expires ${args.expires}: ${error instanceof Error ? error.message : String(error)}; ${USAGE}`),
);
// An already-expired token (0s, 0, a past span) would pass the API's 5 s clock tolerance for a moment and then fail: refuse it.
const { iat = 0, exp = 0 } = decodeJwt(token);
if (exp - iat <= 0) fail(`--expires ${args.expires}: the lifetime must be more than 0 seconds; ${USAGE}`);
// Exactly the API's check, so a token the API would refuse is never printed.
const check = await authenticate(`Bearer ${token}`, secretKey(secret), {
  maxTokenLifetimeSeconds: config.AUTH_MAX_TOKEN_LIFETIME,
});
if (!check.ok)
  fail(
    `--expires ${args.expires}: the API would refuse this token (${check.reason}; AUTH_MAX_TOKEN_LIFETIME=${config.AUTH_MAX_TOKEN_LIFETIME} s)`,
  );
if (source !== "AUTH_SECRET")
  process.stderr.write(`token: signed with the development secret in ${source} (AUTH_SECRET unset)\n`);
process.stdout.write(`${token}\n`);

/** A ConfigError as one line and exit 2 (orExit); anything else is rethrown. */
function exitOnConfigError(error: unknown): never {
  return orExit((): never => {
    throw error;
  }, "token");
}

function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}
