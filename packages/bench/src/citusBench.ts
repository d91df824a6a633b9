import pg from "pg";
import { findPostmaster } from "./cpu/processCpu.ts";

/**
 * A Citus coordinator and two workers for `pnpm bench --citus` without
 * DATABASE_URL: started by the test harness from the installed PostgreSQL
 * (with fsync on, as the embedded bench server), one database on every node.
 */
export async function startBenchCluster(): Promise<{ url: string; stop(): Promise<void> }> {
  const { citusAvailability, startCitusCluster } = await import("@coupler/testing");
  const availability = citusAvailability();
  if (!availability.available)
    throw new Error(`--citus without DATABASE_URL needs the citus extension installed: ${availability.reason}`);
  const cluster = await startCitusCluster({ workers: 2, durable: true });
  try {
    const database = await cluster.createDatabase("coupler_bench");
    return { url: database.url, stop: () => cluster.stop() };
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

/**
 * The workers of the coordinator at `url` (from pg_dist_node) and the
 * postmaster of every node, when they run on this machine: connections to
 * each node with the coordinator's credentials, each asked for its backend,
 * whose parent is the postmaster. A node on another machine gives no pid.
 */
export async function citusNodes(url: string): Promise<{ workers: string[]; postmasterPids: number[] }> {
  const query = async <R extends pg.QueryResultRow>(target: string, text: string) => {
    const client = new pg.Client({ connectionString: target });
    client.on("error", () => {});
    await client.connect();
    try {
      return await client.query<R>(text);
    } finally {
      await client.end();
    }
  };
  const { rows } = await query<{ host: string; port: number }>(
    url,
    "select nodename as host, nodeport as port from pg_dist_node where noderole = 'primary' and groupid <> 0 and isactive order by nodeid",
  );
  const nodeUrls = [
    url,
    ...rows.map((r) => Object.assign(new URL(url), { hostname: r.host, port: String(r.port) }).toString()),
  ];
  const pids: number[] = [];
  for (const nodeUrl of nodeUrls) {
    // The connection stays open while its backend's parent is read (a closed one's backend is gone).
    const client = new pg.Client({ connectionString: nodeUrl });
    client.on("error", () => {});
    await client.connect();
    try {
      const pid = await findPostmaster((text) => client.query<{ pid: number }>(text)).catch(() => undefined);
      if (pid !== undefined) pids.push(pid);
    } finally {
      await client.end();
    }
  }
  return { workers: rows.map((r) => `${r.host}:${r.port}`), postmasterPids: pids };
}
