import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { signToken } from "@coupler/api";
import {
  createDatabase,
  createLogger,
  type IntegrityReport,
  migrate,
  ProgressLicenseCoupler,
  runIntegrityAudit,
} from "@coupler/core";
import { users } from "@coupler/core/schema";
import { adminQuery, startEmbeddedPostgres, withDatabase } from "@coupler/embedded";
import { childProcessEnv } from "./env.ts";
import { FaultInjector, NO_FAULTS } from "./faults.ts";
import { apiHttpTarget } from "./httpTarget.ts";
import { Random } from "./random.ts";

/** The bench's level-up scenario, as the bench package exports it. */
const LEVEL_UP_SCRIPT = fileURLToPath(import.meta.resolve("@coupler/bench/k6/level-up.js"));
const RETRYABLE_STATUSES = new Set([200, 409, 503]);
const RETRYABLE_CODES = new Set(["UNAVAILABLE", "LOCK_TIMEOUT", "CONFLICT", "DEADLOCK"]);

export interface K6FaultOptions {
  k6: string;
  seed: number;
  vus: number;
  seconds: number;
  learners: number;
  /** Pause between backend kills, ms. */
  killIntervalMs: [number, number];
  log: (line: string) => void;
}

export interface K6FaultResult {
  requests: number;
  k6ExitCode: number;
  backendsKilled: number;
  /** HTTP answers by status, from the API's http_request_duration_seconds. */
  statuses: Record<string, number>;
  /** Failed coupler calls by code, from coupler_operations_total. */
  errorCodes: Record<string, number>;
  /** Statuses other than 200/409/503 and codes that are not retryable. */
  unexpected: string[];
  integrity: IntegrityReport;
  passed: boolean;
}

/**
 * Load with faults: the API as its own process, the bench's k6 level-up
 * scenario against it, and the API pool's backends terminated every few
 * hundred ms. Passes when every answer was a 200 or a retryable 409/503 and
 * the integrity audit is clean afterwards.
 */
export async function runK6WithFaults(options: K6FaultOptions): Promise<K6FaultResult> {
  const server = await startEmbeddedPostgres({ fast: true });
  try {
    const name = `coupler_chaos_k6_${randomBytes(4).toString("hex")}`;
    await adminQuery(server.url, `CREATE DATABASE ${name}`);
    const url = withDatabase(server.url, name);
    await migrate(url);
    const admin = createDatabase({ connectionString: url, max: 3, applicationName: "coupler-chaos-admin" });
    try {
      const coupler = new ProgressLicenseCoupler({
        pool: admin.pool,
        db: admin.db,
        logger: createLogger("chaos", "silent"),
      });
      const rows = await admin.db
        .insert(users)
        .values(
          Array.from({ length: options.learners }, (_, i) => ({
            name: `k6 learner ${i + 1}`,
            email: `k6-${i + 1}@example.test`,
          })),
        )
        .returning({ id: users.id });
      for (const { id } of rows) await coupler.enroll({ userId: id, specialization: "PLAYER" });
      const api = await apiHttpTarget({ poolSize: 10 }).start(url);
      try {
        const injector = new FaultInjector({
          adminPool: admin.pool,
          database: name,
          victimApplicationName: api.victimApplicationName,
          rates: { ...NO_FAULTS, killIntervalMs: options.killIntervalMs },
          random: new Random(options.seed).fork("k6"),
        });
        const summaryFile = join(tmpdir(), `${name}-summary.json`);
        options.log(
          `[k6] ${options.vus} VUs for ${options.seconds} s against ${api.baseUrl}, killing API backends every ${options.killIntervalMs.join("-")} ms`,
        );
        injector.start(options.seconds * 1000);
        const k6ExitCode = await runK6(options.k6, LEVEL_UP_SCRIPT, {
          BASE_URLS: api.baseUrl,
          TARGET: "coupler",
          VUS: String(options.vus),
          RAMP_UP_SECONDS: "2",
          STEADY_SECONDS: String(options.seconds),
          LEARNER_FIRST: String(Math.min(...rows.map((r) => r.id))),
          LEARNER_COUNT: String(rows.length),
          THINK_MIN_MS: "0",
          THINK_MAX_MS: "20",
          INSTRUCTOR_TOKEN: await signToken({ sub: 1, role: "instructor" }, api.authSecret),
          ADMIN_TOKEN: await signToken({ sub: 1, role: "admin" }, api.authSecret),
          SUMMARY_OUT: summaryFile,
        });
        await injector.stop();
        const metrics = await (await fetch(`${api.baseUrl}/metrics`)).text();
        const statuses = sumBy(metrics, "http_request_duration_seconds_count", "status");
        const errorCodes = sumBy(metrics, "coupler_operations_total", "code", (labels) => labels.outcome === "error");
        const summary = JSON.parse(await readFile(summaryFile, "utf8")) as {
          metrics?: { http_reqs?: { values?: { count?: number } } };
        };
        const integrity = await runIntegrityAudit(admin.pool);
        const unexpected = [
          ...Object.keys(statuses)
            .filter((s) => !RETRYABLE_STATUSES.has(Number(s)))
            .map((s) => `HTTP ${s} x${statuses[s]}`),
          ...Object.keys(errorCodes)
            .filter((c) => !RETRYABLE_CODES.has(c))
            .map((c) => `${c} x${errorCodes[c]}`),
        ];
        return {
          requests: summary.metrics?.http_reqs?.values?.count ?? 0,
          k6ExitCode,
          backendsKilled: injector.counts.killBackend,
          statuses,
          errorCodes,
          unexpected,
          integrity,
          passed: unexpected.length === 0 && integrity.violations === 0 && (statuses["200"] ?? 0) > 0,
        };
      } finally {
        await api.close();
      }
    } finally {
      await admin.close();
    }
  } finally {
    await server.stop();
  }
}

/** Sums a Prometheus counter's samples by one label. */
function sumBy(
  text: string,
  metric: string,
  label: string,
  where: (labels: Record<string, string>) => boolean = () => true,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${metric}{`)) continue;
    const match = /^[^{]+\{([^}]*)\}\s+([0-9.eE+-]+)$/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries([...(match[1] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (!where(labels)) continue;
    const key = labels[label] ?? "";
    out[key] = (out[key] ?? 0) + Number(match[2]);
  }
  return out;
}

function runK6(k6: string, script: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    // k6 exits 99 when the bench's latency thresholds fail; under faults they are expected to.
    const child = spawn(k6, ["run", "--quiet", "--no-color", "--no-usage-report", script], {
      env: childProcessEnv(env),
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? 1));
  });
}
