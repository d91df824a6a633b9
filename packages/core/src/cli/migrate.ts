/**
 * `pnpm db:migrate [--citus | --plan]`: applies the migrations to DATABASE_URL; with --citus, then distributes the
 * tables on that Citus coordinator; with --plan, only lists what is pending and what it rewrites and locks.
 */
import { parseArgs } from "node:util";
import { CitusSetupError, distributeOnCitus } from "../citus.ts";
import { ConfigError, databaseConfig, orExit, parseConfig } from "../config.ts";
import { MIGRATIONS_FOLDER, migrate } from "../migrate.ts";
import { describePendingMigrations, pendingMigrations } from "../migrationPlan.ts";

const HELP = `usage: pnpm db:migrate [--citus | --plan]   (or: node packages/core/dist/cli/migrate.js [...])

Applies every pending migration (packages/core/drizzle, in order, each once) to the
PostgreSQL 15+ database in DATABASE_URL, and prints "migrations applied". Safe to repeat.

  --citus      DATABASE_URL is a Citus coordinator (with its workers added): after the
               migrations, make the catalogue and coupling_guard reference tables and
               distribute every per-learner table by the learner's id, co-located with
               users (SCALING.md). Safe to run again: it changes nothing the second time.
  --plan       apply nothing: list the pending migrations, the tables each rewrites
               and locks ACCESS EXCLUSIVE, and which need a maintenance window
               (deploy/README.md, "A release"). Exit 0 either way.
  -h, --help   this text
`;

const values = orExit(() => {
  try {
    return parseArgs({
      options: {
        citus: { type: "boolean", default: false },
        plan: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new ConfigError(
      `${error instanceof Error ? error.message : String(error)} (pnpm db:migrate --help for usage)`,
    );
  }
}, "migrate");
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

const url = orExit(() => {
  const { DATABASE_URL } = parseConfig(databaseConfig, process.env);
  if (!DATABASE_URL)
    throw new ConfigError("DATABASE_URL is not set: point it at the PostgreSQL 15+ database to migrate");
  return DATABASE_URL;
}, "migrate");
if (values.plan) {
  const pending = await pendingMigrations(url, MIGRATIONS_FOLDER);
  if (pending.length === 0) {
    console.log("no pending migrations: the schema is up to date");
  } else {
    console.log(`${pending.length} pending migration(s), applied in order in one transaction by pnpm db:migrate:`);
    for (const line of describePendingMigrations(pending)) console.log(`  ${line}`);
    if (pending.some((m) => m.maintenanceWindow))
      console.log("Plan a maintenance window: stop the API (or expect its calls to wait) while they run.");
  }
  process.exit(0);
}
await migrate(url);
console.log("migrations applied");
if (values.citus) {
  const done = await distributeOnCitus(url).catch((error: unknown) => {
    if (!(error instanceof CitusSetupError)) throw error;
    process.stderr.write(`migrate: ${error.message}\n`);
    process.exit(1);
  });
  const changed = [
    ...done.reference.map((t) => `${t} (reference)`),
    ...done.distributed.map((t) => `${t} (distributed)`),
  ];
  if (done.triggers.length > 0) console.log(`citus: installed the trigger ${done.triggers.join(", ")}`);
  console.log(
    changed.length > 0
      ? `citus: placed ${changed.join(", ")} over workers ${done.workers.join(", ")}`
      : `citus: every table already placed; nothing changed (workers ${done.workers.join(", ")})`,
  );
}
