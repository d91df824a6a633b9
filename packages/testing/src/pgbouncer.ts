import { execFile, spawn, type ChildProcess } from "node:child_process";
import { chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import pg from "pg";

/** Where the Debian package puts it; PGBOUNCER overrides. */
const DEFAULT_PATH = "/usr/sbin/pgbouncer";

export interface PgBouncerBinary {
  path: string;
  /** e.g. "1.18.0" */
  version: string;
  /** 1.21 added max_prepared_statements: named prepared statements survive transaction pooling. */
  tracksPreparedStatements: boolean;
}

export interface PgBouncerOptions {
  /** Server connections per (database, user); default 3. */
  defaultPoolSize?: number;
  /** Client connections accepted; default 500. */
  maxClientConn?: number;
  /** max_prepared_statements (PgBouncer ≥ 1.21 only); default 0, off. */
  maxPreparedStatements?: number;
}

export interface PgBouncer {
  binary: PgBouncerBinary;
  port: number;
  /** `url` with its host and port replaced by this PgBouncer's: the same database and user, through the pooler. */
  urlFor(url: string): string;
  /** The log PgBouncer wrote, for a failing test's message. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

/** The pgbouncer binary and its version, or undefined when it is not installed. */
export async function findPgBouncer(): Promise<PgBouncerBinary | undefined> {
  const path = process.env.PGBOUNCER || DEFAULT_PATH;
  try {
    const { stdout } = await promisify(execFile)(path, ["--version"]);
    const version = /PgBouncer (\d+\.\d+(?:\.\d+)?)/.exec(stdout)?.[1];
    if (!version) return undefined;
    const [major = 0, minor = 0] = version.split(".").map(Number);
    return { path, version, tracksPreparedStatements: major > 1 || (major === 1 && minor >= 21) };
  } catch {
    return undefined;
  }
}

/**
 * Starts a real PgBouncer in transaction pool mode in front of the server of
 * `serverUrl`, on a free port of 127.0.0.1, with its config, userlist, log
 * and pid file in a temporary directory. Every database of that server is
 * reachable through it (a `*` entry), as the user and password of
 * `serverUrl`. Clients are trusted; PgBouncer logs in to PostgreSQL with the
 * password from the userlist. PgBouncer refuses to run as root, so as root
 * it is started with `-u postgres` (the user the embedded PostgreSQL runs as).
 */
export async function startPgBouncer(serverUrl: string, options: PgBouncerOptions = {}): Promise<PgBouncer> {
  const binary = await findPgBouncer();
  if (!binary)
    throw new Error(`pgbouncer not found at ${process.env.PGBOUNCER || DEFAULT_PATH} (apt-get install pgbouncer)`);
  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username);
  const password = decodeURIComponent(server.password);
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), "coupler-pgbouncer-"));
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const settings = [
    "[databases]",
    `* = host=${server.hostname} port=${server.port || 5432}`,
    "[pgbouncer]",
    "listen_addr = 127.0.0.1",
    `listen_port = ${port}`,
    "unix_socket_dir =",
    "auth_type = trust",
    `auth_file = ${join(dir, "userlist.txt")}`,
    "pool_mode = transaction",
    `default_pool_size = ${options.defaultPoolSize ?? 3}`,
    `max_client_conn = ${options.maxClientConn ?? 500}`,
    // pg sends these at connect; PgBouncer would otherwise refuse the client.
    "ignore_startup_parameters = extra_float_digits,options,statement_timeout",
    `logfile = ${join(dir, "pgbouncer.log")}`,
    `pidfile = ${join(dir, "pgbouncer.pid")}`,
    ...(binary.tracksPreparedStatements ? [`max_prepared_statements = ${options.maxPreparedStatements ?? 0}`] : []),
  ];
  await writeFile(join(dir, "pgbouncer.ini"), `${settings.join("\n")}\n`);
  await writeFile(join(dir, "userlist.txt"), `${quote(user)} ${quote(password)}\n`);
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { uid, gid } = await systemUser("postgres");
    for (const file of ["", "pgbouncer.ini", "userlist.txt"]) await chown(join(dir, file), uid, gid);
  }
  const child = spawn(binary.path, [...(asRoot ? ["-u", "postgres"] : []), join(dir, "pgbouncer.ini")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const log = () =>
    readFile(join(dir, "pgbouncer.log"), "utf8")
      .catch(() => "")
      .then((text) => `${text}${stderr}`);
  const urlFor = (url: string) => {
    const through = new URL(url);
    through.hostname = "127.0.0.1";
    through.port = String(port);
    return through.toString();
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(urlFor(serverUrl), child);
  } catch (error) {
    const text = await log();
    await stop();
    throw new Error(`pgbouncer did not start: ${(error as Error).message}\n${text}`, { cause: error });
  }
  return { binary, port, urlFor, log, stop };
}

async function waitUntilServing(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited with status ${child.exitCode}`);
    const client = new pg.Client({ connectionString: url });
    client.on("error", () => {});
    try {
      await client.connect();
      await client.query("select 1");
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    } finally {
      await client.end().catch(() => {});
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

async function systemUser(name: string): Promise<{ uid: number; gid: number }> {
  const passwd = await readFile("/etc/passwd", "utf8");
  const entry = passwd.split("\n").find((line) => line.startsWith(`${name}:`));
  const [, , uid, gid] = entry?.split(":") ?? [];
  if (uid === undefined || gid === undefined)
    throw new Error(`running as root, and there is no ${name} user to run pgbouncer as`);
  return { uid: Number(uid), gid: Number(gid) };
}
