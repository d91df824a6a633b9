import { CitusRouter, type CitusRoute, type ConnectionSource, type Database, type RouterStats } from "@coupler/core";

/** Where the in-process coupler on one of the run's pools gets a learner's connection, and how to let go of it. */
export interface ChaosConnections {
  /** For `CouplerOptions.connections`; undefined: every call on the pool itself (plain PostgreSQL, or coordinator routing). */
  source: ConnectionSource | undefined;
  /** The router's counters under direct routing (map changes, route misses). */
  stats: RouterStats | undefined;
  close(): Promise<void>;
}

/**
 * The connections of a chaos pool on Citus routed as the API routes them:
 * under `direct`, a CitusRouter over the catalog whose worker pools copy the
 * pool's settings (`application_name`, so the kill loop finds them; its
 * size, connect timeout and statement timeout, so the short-timeout pool
 * stays short on the workers) and re-read the map every second, as the
 * API's default COUPLER_CITUS_REFRESH_MS does. `coordinator`, or not Citus: the pool alone.
 */
export async function chaosConnections(
  db: Database,
  settings: {
    citus: boolean;
    route: CitusRoute;
    connectionString: string;
    applicationName: string;
    poolSize: number;
    connectionTimeoutMillis: number;
    statementTimeoutMs?: number;
    /** Where the map is read, when `db`'s statement timeout is too short for the catalog query. */
    catalog?: Database;
  },
): Promise<ChaosConnections> {
  if (!settings.citus || settings.route === "coordinator")
    return { source: undefined, stats: undefined, close: async () => {} };
  const router = await CitusRouter.start({
    coordinator: db.pool,
    ...(settings.catalog ? { catalog: settings.catalog.pool } : {}),
    connectionString: settings.connectionString,
    route: "direct",
    poolSizePerWorker: settings.poolSize,
    workerPool: {
      connectionTimeoutMillis: settings.connectionTimeoutMillis,
      ...(settings.statementTimeoutMs ? { statementTimeoutMs: settings.statementTimeoutMs } : {}),
    },
    refreshIntervalMs: 1_000,
    applicationName: settings.applicationName,
  });
  return { source: router, stats: router.stats, close: () => router.close() };
}
