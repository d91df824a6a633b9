/** `pnpm db:migrate` (`node packages/core/dist/cli/migrate.js`): applies the migrations to DATABASE_URL. */
import { parseArgs } from "node:util";
import { ConfigError, databaseConfig, orExit, parseConfig } from "../config.ts";
import { migrate } from "../migrate.ts";

const HELP = `usage: pnpm db:migrate   (or: node packages/core/dist/cli/migrate.js)

Applies every pending migration (packages/core/drizzle, in order, each once) to the
PostgreSQL 15+ database in DATABASE_URL, and prints "migrations applied". Safe to
repeat. Takes no flags besides:
  -h, --help   this text
`;

const help = orExit(() => {
  try {
    return parseArgs({ options: { help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: false }).values.help === true;
  } catch (error) {
    throw new ConfigError(`${error instanceof Error ? error.message : String(error)} (pnpm db:migrate --help for usage)`);
  }
}, "migrate");
if (help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const url = orExit(() => {
  const { DATABASE_URL } = parseConfig(databaseConfig, process.env);
  if (!DATABASE_URL) throw new ConfigError("DATABASE_URL is not set: point it at the PostgreSQL 15+ database to migrate");
  return DATABASE_URL;
}, "migrate");
await migrate(url);
console.log("migrations applied");
