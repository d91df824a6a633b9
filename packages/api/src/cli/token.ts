/** Mints a token: `pnpm --filter @coupler/api token --sub 1 --role admin [--expires 1h]`. */
import { parseArgs } from "node:util";
import { ROLES, signToken, type Role } from "../auth.ts";
import { resolveAuthSecret } from "../devSecret.ts";
import { apiEnv } from "../env.ts";

const { values } = parseArgs({
  options: {
    sub: { type: "string" },
    role: { type: "string" },
    expires: { type: "string", default: "1h" },
  },
});

const sub = Number(values.sub);
const role = values.role;
if (!Number.isInteger(sub) || sub < 1 || !isRole(role)) {
  process.stderr.write(`usage: token --sub <user id> --role ${ROLES.join("|")} [--expires 1h]\n`);
  process.exit(2);
}
// The same secret the server uses: AUTH_SECRET, or the persisted development one.
const { secret } = await resolveAuthSecret(apiEnv());
process.stdout.write(`${await signToken({ sub, role }, secret, { expiresIn: values.expires })}\n`);

function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}
