/**
 * API_WORKERS > 1: several HTTP worker processes (node:cluster) on one port.
 *
 * The primary prepares the database once (embedded PostgreSQL, migrations,
 * demo data), then forks the workers; each runs `startServer` and shares the
 * listening socket (Linux hands connections out round-robin). /metrics must
 * count every worker's requests, so the primary asks every listening worker
 * for its registry (`getMetricsAsJSON`, answered by `answerMetricsCollection`
 * in each worker), waits at most WORKER_METRICS_TIMEOUT_MS for each, and sums
 * what came back with prom-client's `AggregatorRegistry.aggregate`.
 *
 * Who serves that sum depends on METRICS_PORT. Set, the primary listens on it
 * itself (`servePrimaryMetrics`) and the workers do not: the primary handles
 * no API request, so a scrape is answered whatever a worker is doing. Unset,
 * /metrics stays on the main port, where the cluster hands the scrape's
 * connection to some worker, which asks the primary over IPC
 * (`metricsFromPrimary`). That worker may be the stopped one: round-robin
 * hands a SIGSTOPped worker new connections too, and they hang until it
 * continues. Hence METRICS_PORT is the setting to use with workers.
 *
 * prom-client's own `clusterMetrics()` is not used: it fails the whole
 * collection when one worker does not answer within 5 s, so one killed or
 * stopped worker turned every scrape into a 5 s wait and a 500 (issue 16).
 * Here a worker that is dead, not yet listening (a replacement starting) or
 * stopped is left out, and `coupler_metrics_workers_missing` says how many
 * of the API_WORKERS were.
 */
import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from "prom-client";
import type { Logger } from "@coupler/core";
import { createMetricsEndpoint, createMetricsServer } from "./metricsEndpoint.ts";
import type { ServerSettings } from "./config.ts";
import { listen } from "./http/listen.ts";
import { keepNewestIntegrityCheck } from "./newestIntegrityCheck.ts";

const METRICS_REQUEST = "coupler:metrics-request";
const METRICS_RESPONSE = "coupler:metrics-response";
const COLLECT_REQUEST = "coupler:metrics-collect";
const COLLECT_RESPONSE = "coupler:metrics-collected";

/**
 * How long the primary waits for each worker's registry before leaving it
 * out of a scrape (all workers are asked at once, so this bounds the whole
 * collection). Well under the 1 s a scrape must answer in with a worker dead
 * or stopped, and far above what a live worker needs (a few ms).
 */
export const WORKER_METRICS_TIMEOUT_MS = 500;
/** How long a worker waits for the primary's aggregate: the collection's bound plus room to aggregate and send. */
const PRIMARY_METRICS_TIMEOUT_MS = WORKER_METRICS_TIMEOUT_MS + 1_500;

/** The gauge the primary adds to every aggregate; ApiMetrics declares it too (0 in a single process). */
export const WORKERS_MISSING_METRIC = "coupler_metrics_workers_missing";
export const WORKERS_MISSING_HELP = `API worker processes (of API_WORKERS) whose metrics this scrape lacks: dead, restarting or not answering within ${WORKER_METRICS_TIMEOUT_MS} ms. Always 0 without workers.`;

interface MetricsRequest {
  type: typeof METRICS_REQUEST;
  id: number;
}
interface MetricsResponse {
  type: typeof METRICS_RESPONSE;
  id: number;
  body?: string;
  error?: string;
}
interface CollectRequest {
  type: typeof COLLECT_REQUEST;
  id: number;
}
interface CollectResponse {
  type: typeof COLLECT_RESPONSE;
  id: number;
  metrics?: MetricObjectWithValues<MetricValue<string>>[];
  error?: string;
}

export interface WorkerPool {
  /** Resolves with the shared URL once every worker listens; rejects if one exits first. */
  ready: Promise<string>;
  /** The exposition text of every listening worker that answers within WORKER_METRICS_TIMEOUT_MS, plus WORKERS_MISSING_METRIC. */
  metrics(): Promise<string>;
  /** SIGTERM to every worker (each drains, see shutdown.ts); resolves once all have exited. No restarts from then on. */
  stop(): Promise<void>;
}

/**
 * Forks `count` workers running this executable with `env` added to theirs.
 * A worker that dies after it was listening is replaced (logged); one that
 * dies before listening means workers cannot start (a bad port, a crash at
 * start-up), so `onFailure` is called rather than forking in a loop.
 */
export function forkWorkers(options: {
  count: number;
  env: Record<string, string>;
  logger: Logger;
  onFailure: (error: Error) => void;
}): WorkerPool {
  const { logger } = options;
  const live = new Set<Worker>();
  const listening = new Set<Worker>();
  let stopping = false;
  let url: string | undefined;
  let settle: { resolve: (url: string) => void; reject: (error: Error) => void } | undefined;
  const ready = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  ready.catch(() => {}); // the caller awaits it; a late rejection is reported through onFailure as well

  const collector = createCollector();
  const metrics = () => collector.metrics([...listening], options.count);
  const answerMetrics = async (worker: Worker, id: number) => {
    let response: MetricsResponse;
    try {
      response = { type: METRICS_RESPONSE, id, body: await metrics() };
    } catch (error) {
      response = { type: METRICS_RESPONSE, id, error: error instanceof Error ? error.message : String(error) };
    }
    if (worker.isConnected()) worker.send(response);
  };

  const fork = () => {
    const worker = cluster.fork(options.env);
    live.add(worker);
    worker.on("message", (message: unknown) => {
      if (isMessage<MetricsRequest>(message, METRICS_REQUEST)) void answerMetrics(worker, message.id);
      if (isMessage<CollectResponse>(message, COLLECT_RESPONSE)) collector.received(message);
    });
    worker.on("listening", (address) => {
      listening.add(worker);
      url ??= `http://${address.addressType === 6 ? `[${address.address}]` : address.address}:${address.port}`;
      if (listening.size === options.count) settle?.resolve(url);
    });
    worker.on("exit", (code, signal) => {
      live.delete(worker);
      const wasListening = listening.delete(worker);
      if (stopping) return;
      const pid = worker.process.pid;
      if (!wasListening) {
        const error = new Error(`API worker ${pid} exited (${signal ?? code}) before it was listening`);
        settle?.reject(error);
        options.onFailure(error);
        return;
      }
      logger.warn({ worker: pid, code, signal }, "API worker died unexpectedly; starting another");
      fork();
    });
  };
  for (let i = 0; i < options.count; i++) fork();

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      stopping = true;
      await Promise.all(
        [...live].map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              worker.once("exit", () => resolve());
              worker.process.kill("SIGTERM");
            }),
        ),
      );
    })());
  return { ready, metrics, stop };
}

/** The environment variable through which the primary tells its workers it serves /metrics on METRICS_PORT (its URL there). Not a setting. */
export const PRIMARY_METRICS_URL_ENV = "COUPLER_PRIMARY_METRICS_URL";

/**
 * In the primary, with METRICS_PORT set: listens on `settings.metricsPort`
 * (0 = any free port) at `metricsHost` (else `host`) and answers GET /metrics
 * with `text` (a pool's `metrics()`), behind METRICS_TOKEN as in a single
 * process. Resolves with the scrape URL once listening; rejects when the port
 * cannot be had (EADDRINUSE, EACCES). `close()` stops it and cuts open
 * connections.
 */
export async function servePrimaryMetrics(options: {
  settings: ServerSettings;
  text: () => Promise<string>;
  logger: Logger;
}): Promise<{ url: string; close(): Promise<void> }> {
  const { settings, logger } = options;
  const serve = createMetricsEndpoint({
    text: options.text,
    contentType: Registry.PROMETHEUS_CONTENT_TYPE,
    token: settings.metricsToken,
    logger,
  });
  const server = createMetricsServer(settings, serve);
  const url = `${await listen(server, settings.metricsPort ?? 0, settings.metricsHost ?? settings.host)}/metrics`;
  logger.info({ metricsUrl: url }, "primary serving /metrics for all workers");
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * The primary's side of a scrape: asks each listening worker for its
 * registry, waits at most WORKER_METRICS_TIMEOUT_MS, and aggregates what
 * arrived (counters and histograms summed, gauges by their `aggregator`,
 * the integrity gauges from the worker whose check is newest).
 * Answers that come later (a stopped worker continued) are dropped.
 */
function createCollector() {
  let nextId = 0;
  const waiting = new Map<number, (response: CollectResponse) => void>();
  const own = new Registry();
  const missingGauge = new Gauge({ name: WORKERS_MISSING_METRIC, help: WORKERS_MISSING_HELP, registers: [own] });

  const ask = (worker: Worker) =>
    new Promise<CollectResponse["metrics"]>((resolve) => {
      const id = nextId++;
      const timer = setTimeout(() => (waiting.delete(id), resolve(undefined)), WORKER_METRICS_TIMEOUT_MS);
      waiting.set(id, (response) => (clearTimeout(timer), waiting.delete(id), resolve(response.metrics)));
      // A worker killed a moment ago may still be in the set; sending to it fails (callback or throw) and it counts as missing.
      try {
        if (!worker.isConnected()) throw new Error("worker disconnected");
        worker.send({ type: COLLECT_REQUEST, id } satisfies CollectRequest, (error: Error | null) => {
          if (error) waiting.get(id)?.({ type: COLLECT_RESPONSE, id });
        });
      } catch {
        waiting.get(id)?.({ type: COLLECT_RESPONSE, id });
      }
    });

  return {
    received(response: CollectResponse): void {
      waiting.get(response.id)?.(response);
    },
    /** The exposition text of every worker that answered in time, plus the missing-workers gauge; `expected` is API_WORKERS. */
    async metrics(workers: Worker[], expected: number): Promise<string> {
      const answers = (await Promise.all(workers.map(ask))).filter((metrics) => metrics !== undefined);
      missingGauge.set(Math.max(0, expected - answers.length));
      const aggregated = AggregatorRegistry.aggregate<typeof Registry.PROMETHEUS_CONTENT_TYPE>(
        keepNewestIntegrityCheck(answers),
      );
      return Registry.merge([aggregated, own]).metrics();
    },
  };
}

/**
 * In a worker: answers the primary's collection requests with `registry`'s
 * metrics as JSON (what `AggregatorRegistry.aggregate` takes). Call once,
 * after the server is up. The registry must declare WORKERS_MISSING_METRIC
 * with the "omit" aggregator, so the primary's own count replaces it.
 */
export function answerMetricsCollection(registry: Registry): void {
  process.on("message", (message: unknown) => {
    if (!isMessage<CollectRequest>(message, COLLECT_REQUEST)) return;
    const { id } = message;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ type: COLLECT_RESPONSE, id, metrics } satisfies CollectResponse),
      (error: unknown) =>
        process.send?.({ type: COLLECT_RESPONSE, id, error: String(error) } satisfies CollectResponse),
    );
  });
}

let nextRequest = 0;
let listeningForResponses = false;
const pending = new Map<number, { resolve: (body: string) => void; reject: (error: Error) => void }>();

/** In a worker, when /metrics is on the main port (no METRICS_PORT): the /metrics text of all workers together, from the primary. */
export function metricsFromPrimary(): Promise<string> {
  if (!listeningForResponses) listenForResponses();
  const id = nextRequest++;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the primary did not send metrics within ${PRIMARY_METRICS_TIMEOUT_MS} ms`));
    }, PRIMARY_METRICS_TIMEOUT_MS).unref();
    pending.set(id, {
      resolve: (body) => (clearTimeout(timer), resolve(body)),
      reject: (error) => (clearTimeout(timer), reject(error)),
    });
    process.send?.({ type: METRICS_REQUEST, id } satisfies MetricsRequest);
  });
}

function listenForResponses(): void {
  listeningForResponses = true;
  process.on("message", (message: unknown) => {
    if (!isMessage<MetricsResponse>(message, METRICS_RESPONSE)) return;
    const request = pending.get(message.id);
    pending.delete(message.id);
    if (message.body !== undefined) request?.resolve(message.body);
    else request?.reject(new Error(`the primary could not collect metrics: ${message.error ?? "no reason given"}`));
  });
}

function isMessage<T extends { type: string }>(message: unknown, type: T["type"]): message is T {
  return typeof message === "object" && message !== null && (message as { type?: unknown }).type === type;
}
