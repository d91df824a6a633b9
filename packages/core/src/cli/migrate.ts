/** `pnpm db:migrate`: applies the migrations to DATABASE_URL. */
import { ConfigError, databaseConfig, orExit, parseConfig } from "../config.ts";
import { migrate } from "../migrate.ts";

const url = orExit(() => {
  const { DATABASE_URL } = parseConfig(databaseConfig, process.env);
  if (!DATABASE_URL) throw new ConfigError("DATABASE_URL is not set: point it at the PostgreSQL 15+ database to migrate");
  return DATABASE_URL;
}, "migrate");
await migrate(url);
console.log("migrations applied");
