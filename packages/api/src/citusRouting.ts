import {
  CitusRouter,
  describeDbError,
  type ConnectionSource,
  type CouplerObserver,
  type Database,
  type Logger,
} from "@coupler/core";
import type { CitusSettings } from "./config.ts";

type Pool = Database["pool"];

/** Where the server's coupled calls get their connections, and how to let go of them. */
export interface ServerConnections {
  /** For `CouplerOptions.connections`: a learner's pool (a worker's under direct routing). */
  source: ConnectionSource;
  /** How calls are routed: `direct` (Citus workers), `coordinator` (Citus, all through it) or `server` (plain PostgreSQL). */
  route: "direct" | "coordinator" | "server";
  /** Closes the worker pools and stops the map refresh (not the main pool). */
  close(): Promise<void>;
}

/**
 * The server's ConnectionSource. On plain PostgreSQL, or on Citus with
 * `route: coordinator`, every call uses `pool`. On Citus with `route:
 * direct`, a CitusRouter over the catalog: each learner's calls on its
 * worker's pool (`settings.poolSizePerWorker` connections per worker), the map
 * re-read every `settings.refreshIntervalMs`. When the map cannot be read at
 * start, the server serves through the coordinator and says so (it keeps
 * serving rather than failing to start).
 */
export async function serverConnections(options: {
  pool: Pool;
  databaseUrl: string;
  citus: boolean;
  settings: CitusSettings;
  /** COUPLER_PREPARED_STATEMENTS: off, nothing is prepared on the worker connections either. */
  preparedStatements: boolean;
  observer: Pick<CouplerObserver, "onRouteMiss" | "onWorkerMapChange">;
  logger: Logger;
}): Promise<ServerConnections> {
  const { pool, settings, logger } = options;
  const one: ConnectionSource = { poolFor: () => pool };
  if (!options.citus) return { source: one, route: "server", close: async () => {} };
  if (settings.route === "coordinator") {
    logger.info("Citus: every coupled call goes through the coordinator (COUPLER_CITUS_ROUTE=coordinator)");
    return { source: one, route: "coordinator", close: async () => {} };
  }
  try {
    const router = await CitusRouter.start({
      coordinator: pool,
      connectionString: options.databaseUrl,
      addresses: settings.addresses,
      poolSizePerWorker: settings.poolSizePerWorker,
      preparedStatements: options.preparedStatements,
      refreshIntervalMs: settings.refreshIntervalMs,
      observer: options.observer,
      logger: logger.child({ component: "citus-router" }),
      applicationName: "coupler-api",
    });
    if (!router.workerMap?.allSynced)
      logger.warn(
        "Citus: some nodes holding shards have no synced metadata; their learners' calls go through the coordinator",
      );
    return { source: router, route: "direct", close: () => router.close() };
  } catch (error) {
    logger.warn(
      { error: describeDbError(error) },
      "Citus: could not read the worker map; every coupled call goes through the coordinator",
    );
    return { source: one, route: "coordinator", close: async () => {} };
  }
}
