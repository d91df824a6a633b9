import { purgeExpiredIdempotencyKeys, runIntegrityAudit, type Database, type Logger } from "@coupler/core";
import type { ApiMetrics } from "./metrics.ts";

export interface BackgroundJobs {
  /** Stops the timers and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * The server's periodic work, off the request path: the integrity audit that
 * refreshes the desync and orphan gauges (once at start, then every
 * `integrityIntervalMs`; 0 = only at start), and the purge of idempotency keys
 * past their retention (every `purgeIntervalMs`; 0 = never). A run never
 * overlaps the previous one of its kind, and a failure is logged, not thrown.
 */
export function startBackgroundJobs(options: {
  pool: Database["pool"];
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
  return {
    async stop() {
      await Promise.all([integrity.stop(), purge.stop()]);
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
