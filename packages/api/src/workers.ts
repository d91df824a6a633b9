/**
 * API_WORKERS > 1: several HTTP worker processes (node:cluster) on one port.
 *
 * The primary prepares the database once (embedded PostgreSQL, migrations,
 * demo data), then forks the workers; each runs `startServer` and shares the
 * listening socket (Linux hands connections out round-robin). /metrics must
 * count every worker's requests whichever worker answers it, so a worker asks
 * the primary over IPC; the primary collects every worker's registry with
 * prom-client's AggregatorRegistry (`clusterMetrics()`, answered by
 * prom-client's own listener in each worker) and sends the text back.
 */
import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry } from "prom-client";
import type { Logger } from "@coupler/core";

const METRICS_REQUEST = "coupler:metrics-request";
const METRICS_RESPONSE = "coupler:metrics-response";
/** Longer than prom-client's own 5 s limit on collecting from the workers. */
const METRICS_TIMEOUT_MS = 10_000;

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

export interface WorkerPool {
  /** Resolves with the shared URL once every worker listens; rejects if one exits first. */
  ready: Promise<string>;
  /** SIGTERM to every worker (each drains, see shutdown.ts); resolves once all have exited. No restarts from then on. */
  stop(): Promise<void>;
}

/**
 * Forks `count` workers running this executable with `env` added to theirs.
 * A worker that dies after it was listening is replaced (logged); one that
 * dies before listening means workers cannot start (a bad port, a crash at
 * start-up), so `onFailure` is called rather than forking in a loop.
 */
export function forkWorkers(options: { count: number; env: Record<string, string>; logger: Logger; onFailure: (error: Error) => void }): WorkerPool {
  const { logger } = options;
  const aggregator = new AggregatorRegistry();
  const live = new Set<Worker>();
  const listening = new Set<Worker>();
  let stopping = false;
  let url: string | undefined;
  let settle: { resolve: (url: string) => void; reject: (error: Error) => void } | undefined;
  const ready = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  ready.catch(() => {}); // the caller awaits it; a late rejection is reported through onFailure as well

  const answerMetrics = async (worker: Worker, id: number) => {
    let response: MetricsResponse;
    try {
      response = { type: METRICS_RESPONSE, id, body: await aggregator.clusterMetrics() };
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
  return { ready, stop };
}

let nextRequest = 0;
let listeningForResponses = false;
const pending = new Map<number, { resolve: (body: string) => void; reject: (error: Error) => void }>();

/** In a worker: the /metrics text of all workers together, from the primary. */
export function metricsFromPrimary(): Promise<string> {
  if (!listeningForResponses) listenForResponses();
  const id = nextRequest++;
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new Error(`the primary did not send metrics within ${METRICS_TIMEOUT_MS} ms`));
    }, METRICS_TIMEOUT_MS).unref();
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
