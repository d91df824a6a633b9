/**
 * The API executable (`node packages/api/dist/main.js`, `pnpm start`): on the
 * database in DATABASE_URL, or, without one, on an embedded PostgreSQL kept in
 * COUPLER_DATA_DIR. Migrates, seeds demo data (embedded, or when
 * COUPLER_SEED_DEMO=true), and prints how to call it. SIGTERM, SIGINT or the
 * launcher going away drain in-flight calls, close the pool, then stop the
 * embedded PostgreSQL, and exit 0 (see shutdown.ts).
 */
import { ProgressLicenseCoupler, createDatabase, createLogger, migrate } from "@coupler/core";
import { orExit } from "@coupler/core/config";
import { ensureDatabase, startEmbeddedPostgres, type RunningPostgres } from "@coupler/embedded";
import { signToken } from "./auth.ts";
import { resolveAuthSecret } from "./devSecret.ts";
import { parseApiConfig, serverSettings } from "./config.ts";
import { enableGuardOnFreshInstall, seedDemo, type DemoUser } from "./seedDemo.ts";
import { startServer, type RunningServer } from "./server.ts";
import { stopOnSignals } from "./shutdown.ts";

const TOKEN_LIFETIME = "7d";

const env = orExit(() => parseApiConfig(process.env), "coupler-api");
const logger = createLogger("coupler-api", env.LOG_LEVEL);
let embedded: RunningPostgres | undefined;
let server: RunningServer | undefined;
// From the start, so a signal during start-up also stops what has started; PostgreSQL only after the drain.
stopOnSignals(logger, async () => {
  await server?.close();
  await embedded?.stop();
});

try {
  let databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) {
    logger.info({ dataDir: env.COUPLER_DATA_DIR }, "no DATABASE_URL; starting the embedded PostgreSQL");
    embedded = await startEmbeddedPostgres({ dataDir: env.COUPLER_DATA_DIR, detached: true });
    databaseUrl = await ensureDatabase(embedded.url, "coupler");
  }
  const { secret, source: secretSource } = await resolveAuthSecret(env);
  await migrate(databaseUrl);

  let demo: DemoUser[] = [];
  let guardEnabled: boolean | undefined;
  if (embedded || env.COUPLER_SEED_DEMO) {
    const database = createDatabase({ connectionString: databaseUrl, max: 2, logger });
    try {
      demo = await seedDemo(database, new ProgressLicenseCoupler({ pool: database.pool, db: database.db, logger }));
      // Only an embedded install is known to be fresh; on a shared server the operator decides.
      if (embedded) guardEnabled = await enableGuardOnFreshInstall(database.pool);
    } finally {
      await database.close();
    }
  }

  server = await startServer({ ...serverSettings(env), databaseUrl, authSecret: secret, logger });
  printBanner({ url: server.url, databaseUrl, secretSource, demo, guardEnabled, tokens: await demoTokens(demo, secret) });
} catch (error) {
  logger.fatal({ err: error }, "coupler API failed to start");
  await embedded?.stop().catch(() => {});
  process.exit(1);
}

async function demoTokens(demo: DemoUser[], secret: string): Promise<Map<DemoUser, string>> {
  const tokens = new Map<DemoUser, string>();
  for (const user of demo) tokens.set(user, await signToken({ sub: user.id, role: user.role }, secret, { expiresIn: TOKEN_LIFETIME }));
  return tokens;
}

function printBanner(info: {
  url: string;
  databaseUrl: string;
  secretSource: string;
  demo: DemoUser[];
  guardEnabled: boolean | undefined;
  tokens: Map<DemoUser, string>;
}): void {
  const lines = [
    "",
    "Coupler API is up.",
    `  API           ${info.url}/trpc`,
    `  DATABASE_URL  ${info.databaseUrl}${embedded ? `  (embedded, data in ${embedded.dataDir})` : ""}`,
    `  AUTH_SECRET   ${info.secretSource === "AUTH_SECRET" ? "from the environment" : `generated for development, kept in ${info.secretSource}`}`,
    `  health        ${info.url}/healthz  ${info.url}/readyz  ${info.url}/metrics`,
  ];
  if (info.guardEnabled !== undefined) lines.push(`  coupling guard ${info.guardEnabled ? "on" : "off"}`);
  const byRole = (role: string) => info.demo.find((u) => u.role === role);
  const student = byRole("student");
  const instructor = byRole("instructor");
  if (info.demo.length > 0) {
    lines.push("", `Demo users and tokens (valid ${TOKEN_LIFETIME}):`);
    for (const user of info.demo) {
      lines.push(`  ${user.role.padEnd(10)} ${user.name} (id ${user.id})`, `    ${info.tokens.get(user) ?? ""}`);
    }
  }
  if (student && instructor) {
    const studentToken = info.tokens.get(student) ?? "";
    const instructorToken = info.tokens.get(instructor) ?? "";
    const pair = JSON.stringify({ userId: student.id, specialization: "PLAYER" });
    const levelUp = JSON.stringify({ userId: student.id, specialization: "PLAYER", xpGained: 150, sessionsCompleted: 1 });
    lines.push(
      "",
      `Try it: the instructor awards ${student.name} 150 XP, then the student reads their record:`,
      `  curl -s -X POST '${info.url}/trpc/progression.levelUp' -H 'content-type: application/json' \\`,
      `    -H 'authorization: Bearer ${instructorToken}' \\`,
      `    -d '${levelUp}'`,
      `  curl -s -G '${info.url}/trpc/progression.get' --data-urlencode 'input=${pair}' \\`,
      `    -H 'authorization: Bearer ${studentToken}'`,
    );
  }
  lines.push("", "More tokens: pnpm --filter @coupler/api token --sub <user id> --role student|instructor|admin", "Stop with Ctrl-C.", "");
  process.stdout.write(`${lines.join("\n")}\n`);
}
