import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { adminQuery, freePort, withDatabase } from "@coupler/embedded";
import pg from "pg";

/** One PostgreSQL server of a Citus cluster. */
export interface CitusNode {
  name: string;
  /** `postgres` database of this node (for CREATE/DROP DATABASE). */
  adminUrl: string;
  host: string;
  port: number;
  /** Data directory, when this process started the node (undefined for CITUS_URL). */
  dataDir?: string;
  /** Restarts the server as after a crash (immediate shutdown, then start with recovery); only for nodes this process started. */
  restart?(): Promise<void>;
}

export interface CitusCluster {
  coordinator: CitusNode;
  workers: CitusNode[];
  /**
   * Nodes started with the cluster but not registered in any database (empty
   * for CITUS_URL): a worker to add later with `citus_add_node`, after creating
   * the database and the citus extension on it, as when growing a cluster.
   */
  spares: CitusNode[];
  /** Where the cluster came from: "CITUS_URL" or "started" (by this process, from the installed PostgreSQL). */
  source: "CITUS_URL" | "started";
  /** Creates a database on every node with the citus extension and the workers registered; returns its coordinator URL. */
  createDatabase(name?: string): Promise<CitusDatabase>;
  /** Stops the servers this process started and removes their data (nothing for CITUS_URL). */
  stop(): Promise<void>;
}

export interface CitusDatabase {
  name: string;
  /** Coordinator URL of this database. */
  url: string;
  /** URL of this database on each worker, in the order of `workers`. */
  workerUrls: string[];
  /** Drops the database on every node. */
  drop(): Promise<void>;
}

export type CitusAvailability =
  { available: true; how: string; bindir?: string } | { available: false; reason: string };

/**
 * Whether a Citus cluster can be had here, decided without starting anything
 * (so a test file can skip at collection time): CITUS_URL (a coordinator with
 * its workers added), or the `citus` extension installed in the PostgreSQL
 * that `pg_config` names (its citus.control under `pg_config --sharedir`).
 */
export function citusAvailability(env: Record<string, string | undefined> = process.env): CitusAvailability {
  if (env.CITUS_URL) return { available: true, how: "CITUS_URL" };
  let bindir: string;
  let sharedir: string;
  try {
    const out = execFileSync(env.PG_CONFIG ?? "pg_config", ["--bindir", "--sharedir"], { encoding: "utf8" })
      .trim()
      .split("\n");
    [bindir = "", sharedir = ""] = out;
  } catch {
    return {
      available: false,
      reason: "no CITUS_URL, and no pg_config on PATH to find an installed PostgreSQL with the citus extension",
    };
  }
  const control = join(sharedir, "extension", "citus.control");
  if (!existsSync(control))
    return {
      available: false,
      reason: `no CITUS_URL, and the citus extension is not installed (${control} is missing)`,
    };
  if (process.getuid?.() === 0 && !userExists("postgres")) {
    return { available: false, reason: "running as root without a postgres system user to run the servers as" };
  }
  return { available: true, how: `citus extension of ${bindir}`, bindir };
}

/**
 * A Citus cluster for tests: the one at CITUS_URL, or a coordinator and
 * `workers` workers started here from the installed PostgreSQL binaries
 * (initdb into a temp dir, loopback only, trust authentication: throwaway
 * test servers). Throws when citusAvailability() says no.
 */
export async function startCitusCluster(
  options: {
    workers?: number;
    env?: Record<string, string | undefined>;
    /** fsync and full-page writes on, as a benchmark needs (default off: faster, for tests). */
    durable?: boolean;
    /** Extra nodes to start but not register (`spares`); only for a cluster started here (default 0). */
    spares?: number;
  } = {},
): Promise<CitusCluster> {
  const env = options.env ?? process.env;
  const availability = citusAvailability(env);
  if (!availability.available) throw new Error(`no Citus cluster: ${availability.reason}`);
  if (env.CITUS_URL) return fromUrl(env.CITUS_URL);
  return startLocal(availability.bindir ?? "", options.workers ?? 2, options.durable ?? false, options.spares ?? 0);
}

/**
 * One PostgreSQL server from the same installed binaries as a started
 * cluster's nodes and with their settings, but without Citus (no
 * shared_preload_libraries): the plain server a cluster is compared with.
 * Its `postgres` database's URL; `stop` stops it and removes its data.
 * Throws when citusAvailability() finds no installed PostgreSQL with Citus.
 */
export async function startPlainPostgres(
  options: { env?: Record<string, string | undefined>; durable?: boolean } = {},
): Promise<{ adminUrl: string; stop(): Promise<void> }> {
  const availability = citusAvailability(options.env ?? process.env);
  if (!availability.available || availability.bindir === undefined)
    throw new Error(
      `no installed PostgreSQL to start: ${availability.available ? "CITUS_URL names a cluster, not binaries" : availability.reason}`,
    );
  const started = await startLocal(availability.bindir, 0, options.durable ?? false, 0, false);
  return { adminUrl: started.coordinator.adminUrl, stop: () => started.stop() };
}

async function fromUrl(url: string): Promise<CitusCluster> {
  const admin = withDatabase(url, "postgres");
  const coordinator = node("coordinator", admin);
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {});
  await client.connect();
  let rows: { host: string; port: number }[];
  try {
    ({ rows } = await client.query<{ host: string; port: number }>(
      "select nodename as host, nodeport as port from pg_dist_node where noderole = 'primary' and groupid <> 0 and isactive order by nodeid",
    ));
  } finally {
    await client.end();
  }
  const workers = rows.map((r, i) => {
    const u = new URL(admin);
    u.hostname = r.host;
    u.port = String(r.port);
    return node(`worker${i + 1}`, u.toString());
  });
  return cluster(coordinator, workers, "CITUS_URL", async () => {});
}

function node(name: string, adminUrl: string, extra: Partial<CitusNode> = {}): CitusNode {
  const u = new URL(adminUrl);
  return { name, adminUrl, host: u.hostname, port: Number(u.port || 5432), ...extra };
}

async function startLocal(
  bindir: string,
  workerCount: number,
  durable: boolean,
  spareCount: number,
  citus = true,
): Promise<CitusCluster> {
  const root = await mkdtemp(join(tmpdir(), "coupler-citus-"));
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? { uid: idOf("-u"), gid: idOf("-g") } : {};
  await chmod(root, 0o755);
  if (asRoot) await chown(root, ids.uid ?? 0, ids.gid ?? 0);
  const run = (bin: string, args: string[]) => runAs(join(bindir, bin), args, ids);
  const names = ["coordinator", ...Array.from({ length: workerCount + spareCount }, (_, i) => `worker${i + 1}`)];
  const nodes: CitusNode[] = [];
  const started: string[] = [];
  const stopAll = async () => {
    await Promise.all(
      started.map((dir) => run("pg_ctl", ["-D", dir, "-m", "immediate", "-w", "stop"]).catch(() => {})),
    );
    await rm(root, { recursive: true, force: true });
  };
  try {
    for (const name of names) {
      const dataDir = join(root, name);
      const port = await freePort();
      await run("initdb", ["-D", dataDir, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
      const conf = [
        `port = ${port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${dataDir}'`,
        ...(citus ? ["shared_preload_libraries = 'citus'", "citus.node_conninfo = 'sslmode=disable'"] : []),
        "max_connections = 300",
        "max_prepared_transactions = 200",
        // Throwaway test servers: no fsync unless durable (the OS, not the server, is what must survive).
        // Commits stay synchronous: chaos crashes a worker (restart), and an acknowledged commit must not be lost.
        ...(durable ? [] : ["fsync = off", "full_page_writes = off"]),
        // Shard moves (citus_move_shard_placement, the rebalancer) copy a shard and catch up through logical replication.
        "wal_level = logical",
        "lc_messages = 'C'",
      ];
      await writeFile(join(dataDir, "postgresql.auto.conf"), `${conf.join("\n")}\n`);
      if (asRoot) await chown(join(dataDir, "postgresql.auto.conf"), ids.uid ?? 0, ids.gid ?? 0);
      await run("pg_ctl", ["-D", dataDir, "-l", join(dataDir, "server.log"), "-w", "-t", "60", "start"]);
      started.push(dataDir);
      nodes.push(
        node(name, `postgres://postgres@127.0.0.1:${port}/postgres`, {
          dataDir,
          restart: async () => {
            await run("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "-t", "60", "stop"]);
            await run("pg_ctl", ["-D", dataDir, "-l", join(dataDir, "server.log"), "-w", "-t", "60", "start"]);
          },
        }),
      );
    }
  } catch (error) {
    await stopAll();
    throw error;
  }
  const [coordinator, ...rest] = nodes as [CitusNode, ...CitusNode[]];
  return cluster(coordinator, rest.slice(0, workerCount), "started", stopAll, rest.slice(workerCount));
}

/**
 * The cluster whose nodes' `postgres` databases are at these URLs, to create
 * databases on (for a test process that did not start the cluster: the
 * global setup passes the URLs on). Stopping it does nothing.
 */
export function citusClusterAt(coordinatorAdminUrl: string, workerAdminUrls: string[]): CitusCluster {
  return cluster(
    node("coordinator", coordinatorAdminUrl),
    workerAdminUrls.map((u, i) => node(`worker${i + 1}`, u)),
    "CITUS_URL",
    async () => {},
  );
}

function cluster(
  coordinator: CitusNode,
  workers: CitusNode[],
  source: CitusCluster["source"],
  stop: () => Promise<void>,
  spares: CitusNode[] = [],
): CitusCluster {
  return {
    coordinator,
    workers,
    spares,
    source,
    stop,
    createDatabase: async (given) => {
      const name = given ?? `coupler_citus_${randomBytes(5).toString("hex")}`;
      const all = [coordinator, ...workers];
      // Each node gets the database and the extension; Citus does not create databases on workers by itself.
      for (const n of all) {
        await adminQuery(n.adminUrl, `CREATE DATABASE ${name}`);
        await adminQuery(withDatabase(n.adminUrl, name), "CREATE EXTENSION citus");
      }
      const url = withDatabase(coordinator.adminUrl, name);
      const client = new pg.Client({ connectionString: url });
      client.on("error", () => {});
      await client.connect();
      try {
        await client.query("select citus_set_coordinator_host($1, $2)", [coordinator.host, coordinator.port]);
        for (const w of workers) await client.query("select citus_add_node($1, $2)", [w.host, w.port]);
      } finally {
        await client.end();
      }
      let dropped: Promise<void> | undefined;
      return {
        name,
        url,
        workerUrls: workers.map((w) => withDatabase(w.adminUrl, name)),
        drop: () =>
          (dropped ??= (async () => {
            for (const n of all)
              await adminQuery(n.adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
          })()),
      };
    },
  };
}

function runAs(file: string, args: string[], ids: { uid?: number; gid?: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...ids, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`${file} ${args.join(" ")} exited ${code}: ${stderr.trim()}`)),
    );
  });
}

function idOf(flag: "-u" | "-g"): number {
  return Number(execFileSync("id", [flag, "postgres"], { encoding: "utf8" }).trim());
}

function userExists(name: string): boolean {
  try {
    execFileSync("id", ["-u", name], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}
