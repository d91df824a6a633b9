/**
 * Mints a token: `pnpm --silent --filter @coupler/api token --sub 1 --role admin [--expires 1h]`.
 * Prints only the token on stdout (so `TOKEN=$(…)` works; `--silent` keeps
 * pnpm's own header off stdout), a bad flag or environment as one line on
 * stderr with exit code 2.
 */
import { parseArgs } from "node:util";
import { ROLES, signToken, type Role } from "../auth.ts";
import { resolveAuthSecret } from "../devSecret.ts";
import { ConfigError, orExit } from "@coupler/core/config";
import { loadEnvFile, parseApiConfig } from "../config.ts";

const USAGE = `usage: token --sub <user id> --role ${ROLES.join("|")} [--expires <time span, e.g. 30m, 1h; default 1h>]`;
const HELP = `${USAGE}

Prints a JWT for user <sub> with <role>, signed with AUTH_SECRET (or the
development secret \`pnpm start\` generated beside COUPLER_DATA_DIR), on stdout
alone:  TOKEN=$(pnpm --silent --filter @coupler/api token --sub 2 --role instructor)
The API refuses tokens that live longer than AUTH_MAX_TOKEN_LIFETIME (24 h by default).
`;

const args = orExit(() => {
  let values;
  try {
    ({ values } = parseArgs({
      options: { sub: { type: "string" }, role: { type: "string" }, expires: { type: "string", default: "1h" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (error) {
    throw new ConfigError(`${error instanceof Error ? error.message : String(error)}; ${USAGE}`);
  }
  if (values.help) return undefined;
  const sub = Number(values.sub);
  if (!Number.isInteger(sub) || sub < 1) throw new ConfigError(`--sub must be a positive integer user id; ${USAGE}`);
  if (!isRole(values.role)) throw new ConfigError(`--role must be one of ${ROLES.join(", ")}; ${USAGE}`);
  return { sub, role: values.role, expires: values.expires };
}, "token");
if (!args) {
  process.stdout.write(HELP);
  process.exit(0);
}
orExit(loadEnvFile, "token");
const config = orExit(() => parseApiConfig(process.env), "token");
// The same secret the server uses: AUTH_SECRET, or the persisted development one.
const { secret } = await resolveAuthSecret(config);
// A bad --expires is only found by jose when signing.
const token = await signToken({ sub: args.sub, role: args.role }, secret, { expiresIn: args.expires }).catch((error: unknown) =>
  orExit((): never => {
    throw new ConfigError(`--expires ${args.expires}: ${error instanceof Error ? error.message : String(error)}; ${USAGE}`);
  }, "token"),
);
process.stdout.write(`${token}\n`);

function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}
