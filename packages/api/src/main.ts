/**
 * The API executable (`node packages/api/dist/main.js`, `pnpm start`): on the
 * database in DATABASE_URL, or, without one, on an embedded PostgreSQL kept in
 * COUPLER_DATA_DIR. Loads the repository's `.env` first, if there is one.
 * Migrates, seeds demo data (embedded, or when COUPLER_SEED_DEMO=true), and
 * prints how to call it. With API_WORKERS > 1 this process prepares the
 * database and forks that many HTTP workers (workers.ts), each of which runs
 * this file again as a cluster worker; with METRICS_PORT set as well, this
 * process serves /metrics there for all of them. SIGTERM, SIGINT or the
 * launcher going away (only with `--stop-with-parent`, which `pnpm start` and
 * `pnpm dev` pass) drain in-flight calls (in every worker), close the pools,
 * then stop the embedded PostgreSQL, and exit 0 (see shutdown.ts). `--help`
 * prints USAGE.
 */
import cluster from "node:cluster";
import { dirname, join, resolve } from "node:path";
import {
  MIGRATIONS_FOLDER,
  ProgressLicenseCoupler,
  createDatabase,
  describePendingMigrations,
  migrate,
  pendingMigrations,
  redactUrl,
} from "@coupler/core";
import { orExit } from "@coupler/core/config";
import { ensureDatabase, startEmbeddedPostgres, type RunningPostgres } from "@coupler/embedded";
import { formatSeconds, signToken } from "./auth.ts";
import { parseFlags } from "./cli/parseFlags.ts";
import { dataDirHolder } from "./dataDirHolder.ts";
import { resolveAuthSecret } from "./devSecret.ts";
import { loadEnvFile, parseApiConfig, serverSettings } from "./config.ts";
import { createApiLogger } from "./logger.ts";
import { enableGuardOnFreshInstall, seedDemo, type DemoUser } from "./seedDemo.ts";
import { startServer, type RunningServer } from "./server.ts";
import { stopOnSignals } from "./shutdown.ts";
import {
  PRIMARY_METRICS_URL_ENV,
  answerMetricsCollection,
  forkWorkers,
  metricsFromPrimary,
  servePrimaryMetrics,
  type WorkerPool,
} from "./workers.ts";

/** Demo tokens live 12 h, or less when AUTH_MAX_TOKEN_LIFETIME is shorter (a longer one would be refused by this very API). */
const DEMO_TOKEN_LIFETIME_SECONDS = 12 * 60 * 60;
const MINT_HINT = "pnpm --silent --filter @coupler/api token --sub <user id> --role student|instructor|admin";

const USAGE = `usage: node packages/api/dist/main.js [--stop-with-parent] [--no-migrate]   (or: pnpm start)

Serves the coupler API (tRPC at /trpc, REST at /api, docs at /docs) on
DATABASE_URL, or on an embedded PostgreSQL in COUPLER_DATA_DIR when it is unset.
Configured by environment variables (see .env.example and the README), not flags.

  --stop-with-parent  also shut down when the process that started this one exits
                      (pnpm start and pnpm dev pass it; off by default, so nohup,
                      setsid and supervisors keep the API running until signalled)
  --no-migrate        do not apply pending migrations at start (as COUPLER_MIGRATE_ON_START=false):
                      refuse to start while any is pending, naming them; apply them with
                      pnpm db:migrate (plan with pnpm db:migrate --plan)
  -h, --help          this text
`;

const flags = orExit(
  () =>
    parseFlags("node packages/api/dist/main.js --help", {
      "stop-with-parent": { type: "boolean", default: false },
      "no-migrate": { type: "boolean", default: false },
    }),
  "coupler-api",
);
if (!flags) {
  process.stdout.write(USAGE);
  process.exit(0);
}
// A cluster worker stops with its primary, always.
const stopOptions = { stopWithParent: cluster.isWorker || flags["stop-with-parent"] === true };
const noMigrate = flags["no-migrate"] === true;

const envFile = orExit(loadEnvFile, "coupler-api");
const env = orExit(() => parseApiConfig(process.env), "coupler-api");
const logger = await createApiLogger("coupler-api", env.LOG_LEVEL);

if (cluster.isWorker) await runWorker();
else await runPrimary();

/** A cluster worker: serves on the primary's database and secret (passed in its environment), and leaves METRICS_PORT to the primary. */
async function runWorker(): Promise<void> {
  let server: RunningServer | undefined;
  stopOnSignals(
    logger,
    async () => {
      await server?.close();
    },
    stopOptions,
  );
  try {
    if (!env.DATABASE_URL || !env.AUTH_SECRET)
      throw new Error("a worker needs DATABASE_URL and AUTH_SECRET from its primary");
    const externalMetricsUrl = process.env[PRIMARY_METRICS_URL_ENV];
    server = await startServer({
      ...serverSettings(env),
      databaseUrl: env.DATABASE_URL,
      authSecret: env.AUTH_SECRET,
      logger,
      metricsText: metricsFromPrimary,
      ...(externalMetricsUrl ? { externalMetricsUrl } : {}),
    });
    // What this worker contributes when the primary aggregates a scrape (workers.ts).
    answerMetricsCollection(server.metrics.registry);
  } catch (error) {
    const line = oneLineStartFailure(error);
    if (line) process.stderr.write(`coupler-api worker: ${line}\n`);
    else logger.fatal({ err: error }, "API worker failed to start");
    process.exit(1);
  }
}

/**
 * A start-up failure the operator fixes without a stack trace, as one line: a
 * port that is taken or not ours to bind (PORT, METRICS_PORT). Undefined for
 * anything else, which is logged whole.
 */
function oneLineStartFailure(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code !== "EADDRINUSE" && code !== "EACCES") return undefined;
  const { address, port } = error as { address?: string; port?: number };
  const where = address === undefined ? "" : ` on ${address}:${port ?? ""}`;
  const what = code === "EADDRINUSE" ? "the address is already in use" : "this user may not bind that port";
  return `cannot listen${where}: ${what} (${code}); free it, or set PORT / METRICS_PORT to another port`;
}

async function runPrimary(): Promise<void> {
  let embedded: RunningPostgres | undefined;
  let server: RunningServer | undefined;
  let workers: WorkerPool | undefined;
  let primaryMetrics: { url: string; close(): Promise<void> } | undefined;
  let drained = false;
  const stopAll = async () => {
    await workers?.stop();
    await primaryMetrics?.close();
    await server?.close();
    drained = true;
    await embedded?.stop();
  };
  // From the start, so a signal during start-up also stops what has started; PostgreSQL only after the drain.
  stopOnSignals(logger, stopAll, { ...stopOptions, drained: () => drained });
  const fail = async (error: unknown) => {
    const line = oneLineStartFailure(error);
    if (line) process.stderr.write(`coupler-api: ${line}\n`);
    else logger.fatal({ err: error }, "coupler API failed to start");
    await stopAll().catch(() => {});
    process.exit(1);
  };

  try {
    if (envFile) logger.info({ envFile }, "loaded environment file");
    let databaseUrl = env.DATABASE_URL;
    if (!databaseUrl) {
      logger.info({ dataDir: env.COUPLER_DATA_DIR }, "no DATABASE_URL; starting the embedded PostgreSQL");
      const holder = await dataDirHolder(env.COUPLER_DATA_DIR);
      if (holder) {
        process.stderr.write(`coupler-api: ${holder}\n`);
        process.exit(1);
      }
      embedded = await startEmbeddedPostgres({
        dataDir: env.COUPLER_DATA_DIR,
        detached: true,
        passwordFile: join(dirname(env.COUPLER_DATA_DIR), "pg.password"),
      });
      databaseUrl = await ensureDatabase(embedded.url, "coupler");
    }
    const { secret, source: secretSource } = await resolveAuthSecret(env);
    if (env.COUPLER_MIGRATE_ON_START && !noMigrate) await migrate(databaseUrl);
    else {
      const refusal = await oldSchemaRefusal(databaseUrl);
      if (refusal) {
        process.stderr.write(refusal);
        await stopAll().catch(() => {});
        process.exit(1);
      }
    }

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

    let url: string;
    let metricsUrl: string;
    if (env.API_WORKERS === 1) {
      server = await startServer({ ...serverSettings(env), databaseUrl, authSecret: secret, logger });
      url = server.url;
      metricsUrl = server.metricsUrl;
    } else {
      const settings = serverSettings(env);
      // METRICS_PORT is this process's, so no worker can hold a scrape (workers.ts); it listens before the workers start, so a taken port fails fast.
      if (settings.metricsPort !== undefined) {
        primaryMetrics = await servePrimaryMetrics({
          settings,
          text: async () => {
            if (!workers) throw new Error("the workers are not started yet");
            return workers.metrics();
          },
          logger,
        });
      }
      // Always set, so a value inherited from the shell cannot tell the workers the primary serves /metrics when it does not.
      const workerEnv = {
        DATABASE_URL: databaseUrl,
        AUTH_SECRET: secret,
        [PRIMARY_METRICS_URL_ENV]: primaryMetrics?.url ?? "",
      };
      workers = forkWorkers({ count: env.API_WORKERS, env: workerEnv, logger, onFailure: (error) => void fail(error) });
      url = await workers.ready;
      metricsUrl = primaryMetrics?.url ?? `${url}/metrics`;
    }
    // Tokens only for the development server on its own embedded PostgreSQL: anywhere else they are credentials.
    const tokenLifetimeSeconds = Math.min(DEMO_TOKEN_LIFETIME_SECONDS, env.AUTH_MAX_TOKEN_LIFETIME);
    const tokens = embedded ? await demoTokens(demo, secret, tokenLifetimeSeconds) : undefined;
    printBanner({
      url,
      metricsUrl,
      databaseUrl,
      dataDir: embedded?.dataDir,
      secretSource,
      demo,
      guardEnabled,
      tokens,
      tokenLifetimeSeconds,
      workers: env.API_WORKERS,
    });
  } catch (error) {
    await fail(error);
  }
}

/**
 * With migrations off at start: what to print before exiting 1 when the
 * schema is older than this release needs (the pending migrations and the
 * command that applies them), rather than serving calls that would fail on
 * it; undefined when nothing is pending.
 */
async function oldSchemaRefusal(databaseUrl: string): Promise<string | undefined> {
  const pending = await pendingMigrations(databaseUrl, MIGRATIONS_FOLDER);
  if (pending.length === 0) return undefined;
  return [
    `coupler-api: the database schema is older than this release needs; ${pending.length} migration(s) pending:`,
    ...describePendingMigrations(pending).map((line) => `  ${line}`),
    "Migrations at start are off (COUPLER_MIGRATE_ON_START=false or --no-migrate). Apply them with",
    "`DATABASE_URL=... pnpm db:migrate` (see `pnpm db:migrate --plan` and deploy/README.md), then start the API again.",
    "",
  ].join("\n");
}

async function demoTokens(demo: DemoUser[], secret: string, lifetimeSeconds: number): Promise<Map<DemoUser, string>> {
  const tokens = new Map<DemoUser, string>();
  for (const user of demo)
    tokens.set(user, await signToken({ sub: user.id, role: user.role }, secret, { expiresIn: lifetimeSeconds }));
  return tokens;
}

/**
 * How to mint a token this server accepts: with the same AUTH_SECRET, or with
 * the development secret of this data dir, named when it is not the default
 * one (issue 17: with a custom COUPLER_DATA_DIR the hint signed with another
 * secret, and the API said only "invalid token").
 */
function mintHint(secretSource: string, dataDir: string | undefined): string {
  if (secretSource === "AUTH_SECRET") return `with the same AUTH_SECRET in the environment: TOKEN=$(${MINT_HINT})`;
  const custom = dataDir !== undefined && resolve(dataDir) !== resolve(parseApiConfig({}).COUPLER_DATA_DIR);
  const prefix = custom ? `COUPLER_DATA_DIR=${resolve(dataDir)} ` : "";
  return `signed with ${secretSource}: TOKEN=$(${prefix}${MINT_HINT})`;
}

/** How to stop this process: Ctrl-C on a terminal; a daemon or a service has only signals. */
function stopHint(): string {
  return process.stdin.isTTY || process.stdout.isTTY
    ? "Stop with Ctrl-C (SIGINT) or SIGTERM."
    : "Stop with SIGTERM or SIGINT.";
}

function printBanner(info: {
  url: string;
  /** Where to scrape: on the main port, or at METRICS_PORT. */
  metricsUrl: string;
  databaseUrl: string;
  /** Set when this process started the embedded PostgreSQL. */
  dataDir: string | undefined;
  secretSource: string;
  demo: DemoUser[];
  guardEnabled: boolean | undefined;
  /** Demo tokens; undefined on an external database, where none are printed. */
  tokens: Map<DemoUser, string> | undefined;
  /** How long the demo tokens are valid, in seconds. */
  tokenLifetimeSeconds: number;
  workers: number;
}): void {
  const lines = [
    "",
    "Coupler API is up.",
    `  API           ${info.url}/trpc${info.workers > 1 ? `  (${info.workers} worker processes)` : ""}`,
    `  DATABASE_URL  ${redactUrl(info.databaseUrl)}${info.dataDir ? `  (embedded, data in ${info.dataDir}, password in ${join(dirname(info.dataDir), "pg.password")})` : ""}`,
    `  AUTH_SECRET   ${info.secretSource === "AUTH_SECRET" ? "from the environment" : `generated for development, kept in ${info.secretSource}`}`,
    `  docs          ${info.url}/  ${info.url}/docs (Swagger UI)  ${info.url}/openapi.json  REST under ${info.url}/api`,
    `  health        ${info.url}/healthz  ${info.url}/readyz  ${info.metricsUrl}`,
  ];
  if (info.guardEnabled !== undefined) lines.push(`  coupling guard ${info.guardEnabled ? "on" : "off"}`);
  const { tokens } = info;
  if (info.demo.length > 0 && !tokens) {
    lines.push("", "Demo users (no tokens printed for a database of your own; mint one with the token CLI):");
    for (const user of info.demo) lines.push(`  ${user.role.padEnd(10)} ${user.name} (id ${user.id})`);
  }
  const byRole = (role: string) => info.demo.find((u) => u.role === role);
  const student = byRole("student");
  const instructor = byRole("instructor");
  if (info.demo.length > 0 && tokens) {
    lines.push(
      "",
      `Demo users and tokens (valid ${formatSeconds(info.tokenLifetimeSeconds)}, within AUTH_MAX_TOKEN_LIFETIME):`,
    );
    for (const user of info.demo) {
      lines.push(`  ${user.role.padEnd(10)} ${user.name} (id ${user.id})`, `    ${tokens.get(user) ?? ""}`);
    }
  }
  if (student && instructor && tokens) {
    const studentToken = tokens.get(student) ?? "";
    const instructorToken = tokens.get(instructor) ?? "";
    const pair = JSON.stringify({ userId: student.id, specialization: "PLAYER" });
    const levelUp = JSON.stringify({
      userId: student.id,
      specialization: "PLAYER",
      xpGained: 150,
      sessionsCompleted: 1,
    });
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
  lines.push("", `${tokens ? "More tokens" : "Tokens"}, ${mintHint(info.secretSource, info.dataDir)}`, stopHint(), "");
  process.stdout.write(`${lines.join("\n")}\n`);
}
