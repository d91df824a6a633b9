import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { CouplerObserver, IntegrityReport, OperationEvent, RouteMissEvent } from "@coupler/core";
import { WORKERS_MISSING_HELP, WORKERS_MISSING_METRIC } from "./workers.ts";

// Coupler calls take about a millisecond; lock waits can reach lock_timeout.
const DURATION_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * The server's Prometheus metrics, on a registry of its own (not prom-client's
 * global one), so several servers can run in one process.
 *
 * With API_WORKERS > 1 the primary sums the registries of the workers that
 * answer (prom-client's `AggregatorRegistry.aggregate`, see workers.ts):
 * counters and histograms add up. The integrity gauges are the same database's
 * state seen by each worker's own check, so the primary reports those of the
 * newest check, whichever worker ran it (newestIntegrityCheck.ts): an
 * `admin.integrity` after a repair clears the desync gauge at the next scrape.
 * Their `aggregator` ("max") then sees one worker's values. Readiness takes the
 * minimum: one worker that cannot reach the database makes the process not ready.
 */
export class ApiMetrics implements CouplerObserver {
  readonly registry = new Registry();

  readonly operations = new Counter({
    name: "coupler_operations_total",
    help: "Coupler calls by operation, outcome (applied, noop, replayed, error) and error code ('' on success).",
    labelNames: ["operation", "outcome", "code"] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: "coupler_operation_duration_seconds",
    help: "Wall time of a coupler call, retries included.",
    labelNames: ["operation"] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly lockWait = new Histogram({
    name: "coupler_lock_wait_seconds",
    help: "Time spent waiting for a pair (writes only): in memory behind this process's transaction on it, plus the lock statement.",
    labelNames: ["operation"] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  readonly contention = new Counter({
    name: "coupler_lock_contention_total",
    help: "Calls that found their pair busy and waited, by cause: row_lock when another transaction held the pair's rows as the lock statement started (database contention, alerted), queue when the call only waited in memory behind this process's transaction on the pair (write combining at work; its cost shows in latency).",
    labelNames: ["operation", "cause"] as const,
    registers: [this.registry],
  });
  readonly deadlocks = new Counter({
    name: "coupler_deadlocks_total",
    help: "Deadlocks PostgreSQL reported to coupler calls, retried or not.",
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: "coupler_retries_total",
    help: "Transaction retries after a deadlock or serialization failure.",
    labelNames: ["operation"] as const,
    registers: [this.registry],
  });
  readonly desyncs = new Gauge({
    name: "progress_license_desync_count",
    help: "Pairs whose progress and license levels differ, at the last integrity check.",
    aggregator: "max",
    registers: [this.registry],
  });
  readonly orphans = new Gauge({
    name: "orphan_record_count",
    help: "Rows without their counterpart at the last integrity check: progress without license, license without progress, rows of missing users, history of missing licenses.",
    aggregator: "max",
    registers: [this.registry],
  });
  readonly integrityFindings = new Gauge({
    name: "coupler_integrity_findings",
    help: "Findings of the last integrity check, by check.",
    labelNames: ["check"] as const,
    aggregator: "max",
    registers: [this.registry],
  });
  readonly integrityCheckedAt = new Gauge({
    name: "coupler_integrity_last_check_timestamp_seconds",
    help: "When the last integrity check finished (Unix time).",
    aggregator: "max",
    registers: [this.registry],
  });
  readonly ready = new Gauge({
    name: "coupler_ready",
    help: "1 when the last readiness probe (select 1, as /readyz runs it) reached the database, 0 when it failed or the server is draining.",
    aggregator: "min",
    registers: [this.registry],
  });
  /** Set by the primary when it aggregates workers (see workers.ts); 0 in a single process. Omitted from a worker's share. */
  readonly workersMissing = new Gauge({
    name: WORKERS_MISSING_METRIC,
    help: WORKERS_MISSING_HELP,
    aggregator: "omit",
    registers: [this.registry],
  });
  /** Pool saturation, apart from readiness: calls waiting for a connection, and the pool's connections (`watchPool`). */
  readonly poolWaiting = new Gauge({
    name: "coupler_db_pool_waiting",
    help: "Calls waiting for a connection from the database pool (pg-pool's waitingCount) at scrape time.",
    registers: [this.registry],
    collect: () => this.#poolGauges(),
  });
  readonly poolConnections = new Gauge({
    name: "coupler_db_pool_connections",
    help: "Connections of the database pool at scrape time, by state: total (open) and idle.",
    labelNames: ["state"] as const,
    registers: [this.registry],
    collect: () => this.#poolGauges(),
  });
  #pool: { waitingCount: number; totalCount: number; idleCount: number } | undefined;

  readonly http = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP requests by tRPC procedure (or endpoint) and status.",
    labelNames: ["procedure", "status"] as const,
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });

  readonly citusRouteMisses = new Counter({
    name: "coupler_citus_route_misses_total",
    help: "Calls routed direct on Citus to a node that did not hold the learner's shard (a stale worker map); the node forwarded them.",
    registers: [this.registry],
  });
  readonly citusMapChanges = new Counter({
    name: "coupler_citus_map_changes_total",
    help: "Times the Citus worker map changed when re-read from the catalog (shard moves, nodes added or removed).",
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Reports `pool`'s saturation on the pool gauges at each scrape. */
  watchPool(pool: { waitingCount: number; totalCount: number; idleCount: number }): void {
    this.#pool = pool;
  }

  #poolGauges(): void {
    if (!this.#pool) return;
    this.poolWaiting.set(this.#pool.waitingCount);
    this.poolConnections.set({ state: "total" }, this.#pool.totalCount);
    this.poolConnections.set({ state: "idle" }, this.#pool.idleCount);
  }

  /** CouplerObserver: one event per coupler call. Cheap, never throws. */
  onOperation(event: OperationEvent): void {
    const { operation } = event;
    this.operations.inc({ operation, outcome: event.outcome, code: event.errorCode ?? "" });
    this.duration.observe({ operation }, event.durationMs / 1000);
    if (event.lockWaitMs !== undefined) this.lockWait.observe({ operation }, event.lockWaitMs / 1000);
    if (event.contention) this.contention.inc({ operation, cause: event.contention });
    if (event.deadlocks > 0) this.deadlocks.inc(event.deadlocks);
    if (event.retries > 0) this.retries.inc({ operation }, event.retries);
  }

  /** CouplerObserver: a call reached a Citus node that forwarded it. */
  onRouteMiss(_event: RouteMissEvent): void {
    this.citusRouteMisses.inc();
  }

  /** CouplerObserver: the Citus worker map changed. */
  onWorkerMapChange(): void {
    this.citusMapChanges.inc();
  }

  recordIntegrity(report: IntegrityReport): void {
    this.desyncs.set(report.desynced.count);
    this.orphans.set(report.orphans.count + report.missingLicense.count + report.missingProgress.count);
    for (const check of [
      "desynced",
      "missingLicense",
      "missingProgress",
      "orphans",
      "levelOutOfRange",
      "historyGaps",
    ] as const) {
      this.integrityFindings.set({ check }, report[check].count);
    }
    this.integrityCheckedAt.set(report.checkedAt.getTime() / 1000);
  }

  observeRequest(procedure: string, status: number, seconds: number): void {
    this.http.observe({ procedure, status: String(status) }, seconds);
  }
}
