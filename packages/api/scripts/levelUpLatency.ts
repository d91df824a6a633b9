/**
 * Latency of one level-up through tRPC over HTTP on this machine: sequential
 * calls (no concurrency) against the real server and a real PostgreSQL.
 *
 *   pnpm --filter @coupler/api bench:latency [--calls 2000] [--durable] [--log-level info]
 *
 * Starts its own embedded PostgreSQL in a temp dir: `fast` (fsync off, like the
 * test clusters) unless --durable. Request logs are serialized at the chosen
 * level into /dev/null, so their cost counts but the terminal does not.
 */
import { Agent } from "node:http";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { createDatabase, migrate } from "@coupler/core";
import { startEmbeddedPostgres } from "@coupler/embedded";
import { createCoupler, enrolledUser } from "@coupler/testing";
import { signToken } from "../src/auth.ts";
import { createCouplerClient } from "../src/client.ts";
import { startServer } from "../src/server.ts";
import { keepAlivePost } from "./keepAlivePost.ts";

const { values } = parseArgs({
  options: {
    calls: { type: "string", default: "2000" },
    durable: { type: "boolean", default: false },
    "log-level": { type: "string", default: "info" },
  },
});
const calls = Number(values.calls);
const warmup = Math.min(300, calls);

const pg = await startEmbeddedPostgres({ fast: !values.durable });
try {
  await migrate(pg.url);
  const database = createDatabase({ connectionString: pg.url, max: 2 });
  const coupler = createCoupler(database, { logger: pino({ level: "silent" }) });
  const learner = await enrolledUser(database, coupler, "PLAYER");
  // Baseline without HTTP: the coupler's own transaction on a small pool.
  const direct = await measure(() =>
    coupler.levelUp({ userId: learner, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 1 }),
  );
  await database.close();

  const secret = "latency-script-secret-0123456789abcdef";
  const logger = pino({ level: values["log-level"] }, pino.destination("/dev/null"));
  const server = await startServer({
    databaseUrl: pg.url,
    authSecret: secret,
    port: 0,
    host: "127.0.0.1",
    integrityIntervalMs: 0,
    logger,
  });
  const token = await signToken({ sub: 1, role: "instructor" }, secret, { expiresIn: "1h" });
  const input = { userId: learner, specialization: "PLAYER" as const, xpGained: 1, sessionsCompleted: 1 };

  const client = createCouplerClient(server.url, token, { batch: false });
  const typed = await measure(() => client.progression.levelUp.mutate(input));

  // The same call as k6 or curl sends it: one keep-alive connection, plain JSON.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = JSON.stringify(input);
  const raw = await measure(() => keepAlivePost(`${server.url}/trpc/progression.levelUp`, body, token, agent));
  agent.destroy();

  // Server-side time (request in → response out) from the server's own histogram, both HTTP runs together.
  const { values: series } = await server.metrics.http.get();
  const buckets = series.filter(
    (v) => v.metricName === "http_request_duration_seconds_bucket" && v.labels.procedure === "progression.levelUp",
  );
  const count = buckets.find((v) => (v.labels as { le?: string | number }).le === "+Inf")?.value ?? 0;
  const share = (le: number) =>
    `${(((buckets.find((v) => (v.labels as { le?: string | number }).le === le)?.value ?? 0) / Math.max(1, count)) * 100).toFixed(1)}% ≤ ${le * 1000} ms`;
  await server.close();
  const setup = `${values.durable ? "durable (fsync on)" : "fast (fsync off)"} embedded PostgreSQL 17, log level ${values["log-level"]}`;
  process.stdout.write(`levelUp over HTTP, ${calls} sequential calls after ${warmup} warm-up, ${setup}\n`);
  process.stdout.write(`  coupler alone (no HTTP):       ${format(direct)}\n`);
  process.stdout.write(`  typed client (httpLink/fetch): ${format(typed)}\n`);
  process.stdout.write(`  raw node:http keep-alive:      ${format(raw)}\n`);
  process.stdout.write(`  server side (histogram):       ${[0.001, 0.002, 0.005].map(share).join(", ")}\n`);
} finally {
  await pg.stop();
}

async function measure(call: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < calls; i++) {
    const started = performance.now();
    await call();
    samples.push(performance.now() - started);
  }
  return samples.sort((a, b) => a - b);
}

function format(sorted: number[]): string {
  const at = (q: number) => (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(3);
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return `p50 ${at(0.5)} ms  p95 ${at(0.95)} ms  p99 ${at(0.99)} ms  mean ${mean.toFixed(3)} ms`;
}
