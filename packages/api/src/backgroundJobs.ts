import {
  createDatabase,
  purgeExpiredIdempotencyKeys,
  runIntegrityAudit,
  type Database,
  type Logger,
} from "@coupler/core";
import type { ApiMetrics } from "./metrics.ts";

/** How often the readiness gauge is refreshed (`coupler_ready`), and how long one probe may take before it counts as a failure. */
export const READINESS_PROBE_INTERVAL_MS = 5_000;
export const READINESS_PROBE_TIMEOUT_MS = 2_000;

/**
 * `select 1` on `pool`, bounded: resolves once the database answers, rejects
 * with "no answer within 2000 ms" (READINESS_PROBE_TIMEOUT_MS) when it does
 * not, e.g. a stopped or unreachable server, or with the driver's error. What
 * both /readyz and the periodic readiness probe ask.
 */
export async function probeDatabase(pool: Database["pool"]): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${READINESS_PROBE_TIMEOUT_MS} ms`)),
      READINESS_PROBE_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([pool.query("select 1"), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A pool of one connection of its own for the readiness probe, on
 * `databaseUrl` (the API's DATABASE_URL): /readyz asks whether the database is reachable, and a
 * shared pool saturated by calls waiting on row locks would answer "no"
 * while the database is fine (saturation has its own gauge,
 * `coupler_db_pool_waiting`). A probe that finds no connection within
 * READINESS_PROBE_TIMEOUT_MS fails. Errors of its idle client are logged.
 * Close it with `close()`.
 */
export function createProbePool(databaseUrl: string, logger: Logger): Database {
  return createDatabase({
    connectionString: databaseUrl,
    max: 1,
    connectionTimeoutMillis: READINESS_PROBE_TIMEOUT_MS,
    applicationName: "coupler-api-readiness",
    logger,
  });
}

export interface BackgroundJobs {
  /** Stops the timers and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * The server's periodic work, off the request path: the integrity audit that
 * refreshes the desync and orphan gauges (once at start, then every
 * `integrityIntervalMs`; 0 = only at start), and the purge of idempotency keys
 * past their retention (every `purgeIntervalMs`; 0 = never), and a readiness
 * probe (`select 1`, the query /readyz runs) every READINESS_PROBE_INTERVAL_MS
 * that sets `coupler_ready`, so a process that is up but cannot reach its
 * database shows on /metrics without a scrape ever waiting on the database.
 * A probe unanswered within READINESS_PROBE_TIMEOUT_MS counts as failed. A run never
 * overlaps the previous one of its kind, and a failure is logged, not thrown.
 */
export function startBackgroundJobs(options: {
  pool: Database["pool"];
  /** The readiness probe's own pool (`createProbePool`). */
  probePool: Database["pool"];
  metrics: ApiMetrics;
  logger: Logger;
  integrityIntervalMs: number;
  purgeIntervalMs: number;
  idempotencyRetentionMs: number;
}): BackgroundJobs {
  const { pool, metrics, logger } = options;
  const integrity = periodic(options.integrityIntervalMs, true, () =>
    runIntegrityAudit(pool, { sampleLimit: 0 })
      .then((report) => metrics.recordIntegrity(report))
      .catch((error: unknown) => logger.warn({ err: error }, "periodic integrity check failed")),
  );
  const purge = periodic(options.purgeIntervalMs, false, () =>
    purgeExpiredIdempotencyKeys(pool, { retentionMs: options.idempotencyRetentionMs })
      .then((deleted) => {
        if (deleted > 0) logger.info({ deleted }, "expired idempotency keys purged");
      })
      .catch((error: unknown) => logger.warn({ err: error }, "idempotency key purge failed")),
  );
  let reachable = true; // log the change to unreachable once, not every probe
  const readiness = periodic(READINESS_PROBE_INTERVAL_MS, true, async () => {
    try {
      await probeDatabase(options.probePool);
      metrics.ready.set(1);
      reachable = true;
    } catch (error) {
      if (reachable) logger.warn({ err: error }, "readiness probe failed: the database is unreachable");
      reachable = false;
      metrics.ready.set(0);
    }
  });
  return {
    async stop() {
      await Promise.all([integrity.stop(), purge.stop(), readiness.stop()]);
    },
  };
}

function periodic(intervalMs: number, runNow: boolean, job: () => Promise<void>) {
  let running: Promise<void> | undefined;
  const run = () => void (running ??= job().finally(() => (running = undefined)));
  if (runNow) run();
  const timer = intervalMs > 0 ? setInterval(run, intervalMs).unref() : undefined;
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
