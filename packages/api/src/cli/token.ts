/** Mints a token: `pnpm --filter @coupler/api token --sub 1 --role admin [--expires 1h]`. */
import { parseArgs } from "node:util";
import { ROLES, signToken, type Role } from "../auth.ts";
import { resolveAuthSecret } from "../devSecret.ts";
import { ConfigError, orExit } from "@coupler/core/config";
import { parseApiConfig } from "../config.ts";

const config = orExit(() => parseApiConfig(process.env), "token");
const USAGE = `usage: token --sub <user id> --role ${ROLES.join("|")} [--expires 1h]`;
const { sub, role, expires } = orExit(() => {
  let values;
  try {
    ({ values } = parseArgs({ options: { sub: { type: "string" }, role: { type: "string" }, expires: { type: "string", default: "1h" } } }));
  } catch (error) {
    throw new ConfigError(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  }
  const sub = Number(values.sub);
  if (!Number.isInteger(sub) || sub < 1 || !isRole(values.role)) throw new ConfigError(USAGE);
  return { sub, role: values.role, expires: values.expires };
}, "token");
// The same secret the server uses: AUTH_SECRET, or the persisted development one.
const { secret } = await resolveAuthSecret(config);
process.stdout.write(`${await signToken({ sub, role }, secret, { expiresIn: expires })}\n`);

function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}
