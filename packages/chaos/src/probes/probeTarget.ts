import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProgressLicenseCoupler, createDatabase, createLogger, createUser, migrate } from "@coupler/core";
import { adminQuery, startEmbeddedPostgres, withDatabase } from "@coupler/embedded";
import { startApiProcess } from "@coupler/bench/apiProcess";
import { childProcessEnv } from "../env.ts";
import { sendRequest, type HttpResponse } from "./http.ts";
import { claims, forgeJwt } from "./tokens.ts";
import type { ProbeTarget, ProbeUsers } from "./types.ts";

/** Short HTTP bounds, so the slow-client probes take seconds; the rest are the API's defaults. */
export const PROBE_LIMITS = {
  headersTimeoutMs: 2000,
  requestTimeoutMs: 4000,
  maxConnections: 50,
  maxBatchSize: 50,
  maxBodyBytes: 100_000,
};

export interface RunningProbeTarget extends ProbeTarget {
  close(): Promise<void>;
}

/**
 * Everything the probes attack, on 127.0.0.1 only: an embedded PostgreSQL
 * with a generated password, a migrated database with five users (an admin,
 * two instructors, two students enrolled in PLAYER), and the built API as its
 * own process (`node packages/api/dist/main.js`) with a known AUTH_SECRET, a
 * METRICS_TOKEN and short HTTP limits. The API's stdout and stderr are kept,
 * so the secrets probes can read them.
 */
export async function startProbeTarget(): Promise<RunningProbeTarget> {
  const dir = await mkdtemp(join(tmpdir(), "coupler-probes-"));
  // A password file makes the server generate a random password, which the secrets probes then look for.
  const postgres = await startEmbeddedPostgres({ fast: true, passwordFile: join(dir, "pg.password") });
  const cleanups: (() => Promise<unknown>)[] = [() => postgres.stop(), () => rm(dir, { recursive: true, force: true })];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    await adminQuery(postgres.url, "CREATE DATABASE coupler_probes");
    const databaseUrl = withDatabase(postgres.url, "coupler_probes");
    await migrate(databaseUrl);
    const users = await seed(databaseUrl);
    const authSecret = randomBytes(32).toString("hex");
    const metricsToken = randomBytes(24).toString("hex");
    const api = await startApiProcess({
      env: childProcessEnv({
        DATABASE_URL: databaseUrl,
        AUTH_SECRET: authSecret,
        METRICS_TOKEN: metricsToken,
        NODE_ENV: "production",
        LOG_LEVEL: "debug", // the most a misconfigured operator could log; the secrets probes read it all
        COUPLER_ENV_FILE: "",
        COUPLER_SEED_DEMO: "false",
        COUPLER_BENCH_MODE: "false",
        INTEGRITY_CHECK_INTERVAL_MS: "0",
        HTTP_HEADERS_TIMEOUT_MS: String(PROBE_LIMITS.headersTimeoutMs),
        HTTP_REQUEST_TIMEOUT_MS: String(PROBE_LIMITS.requestTimeoutMs),
        HTTP_MAX_CONNECTIONS: String(PROBE_LIMITS.maxConnections),
        MAX_BATCH_SIZE: String(PROBE_LIMITS.maxBatchSize),
        MAX_BODY_BYTES: String(PROBE_LIMITS.maxBodyBytes),
      }),
      detached: true,
      stdout: "pipe",
      stderr: "pipe",
    });
    cleanups.push(() => api.stop());
    const output: Buffer[] = [];
    api.child.stdout?.on("data", (chunk: Buffer) => output.push(chunk));
    api.child.stderr?.on("data", (chunk: Buffer) => output.push(chunk));

    const port = Number(new URL(api.url).port);
    const tokens = new Set<string>();
    const responses: HttpResponse[] = [];
    const sent = (token: string) => void tokens.add(token);
    return {
      url: api.url,
      port,
      authSecret,
      metricsToken,
      dbPassword: decodeURIComponent(new URL(databaseUrl).password),
      users,
      limits: PROBE_LIMITS,
      token(role, sub) {
        const token = forgeJwt({ claims: claims(sub, role), secret: authSecret });
        sent(token);
        return token;
      },
      forge(spec) {
        const token = forgeJwt(spec);
        sent(token);
        return token;
      },
      async send(request) {
        if (request.token !== undefined) sent(request.token);
        const response = await sendRequest(port, request);
        responses.push(response);
        return response;
      },
      sent,
      sentTokens: () => tokens,
      responses: () => responses,
      apiOutput: () => Buffer.concat(output).toString("utf8"),
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function seed(databaseUrl: string): Promise<ProbeUsers> {
  const database = createDatabase({ connectionString: databaseUrl, max: 2, applicationName: "coupler-probes-seed" });
  try {
    const coupler = new ProgressLicenseCoupler({
      pool: database.pool,
      db: database.db,
      logger: createLogger("probes", "silent"),
    });
    const user = async (name: string) => (await createUser(database.pool, { name, email: `${name}@probes.test` })).id;
    const users: ProbeUsers = {
      admin: await user("admin"),
      instructor: await user("instructor"),
      instructor2: await user("instructor2"),
      student: await user("student"),
      otherStudent: await user("otherstudent"),
    };
    for (const learner of [users.student, users.otherStudent]) {
      await coupler.enroll({ userId: learner, specialization: "PLAYER" }, { actor: "probes" });
    }
    return users;
  } finally {
    await database.close();
  }
}
