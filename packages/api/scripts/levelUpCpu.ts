/**
 * Server CPU per level-up over HTTP: the API (tRPC, lean path on or off) or a
 * minimal node:http server doing the same work (verify the token, parse the
 * JSON body, `coupler.levelUp`, answer JSON), in this process; the load comes
 * from a child process over keep-alive connections, so only the server's own
 * work is counted (process.cpuUsage before and after each phase).
 *
 *   pnpm --filter @coupler/api bench:cpu [--target lean|official|minimal|all] [--calls 3000] [--concurrency 8] [--log-level info]
 *
 * PostgreSQL is an embedded `fast` cluster (fsync off) in a temp dir; its CPU is not counted.
 */
import { fork } from "node:child_process";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { ProgressLicenseCoupler, createDatabase, migrate } from "@coupler/core";
import { startEmbeddedPostgres } from "@coupler/embedded";
import { enrolledUser } from "@coupler/testing";
import { createAuthenticator, secretKey, signToken } from "../src/auth.ts";
import { startServer } from "../src/server.ts";

const { values } = parseArgs({
  options: {
    target: { type: "string", default: "all" },
    calls: { type: "string", default: "3000" },
    concurrency: { type: "string", default: "8" },
    "log-level": { type: "string", default: "info" },
  },
});
const calls = Number(values.calls);
const concurrency = Number(values.concurrency);
const targets = values.target === "all" ? ["minimal", "official", "lean"] : [values.target ?? "lean"];
const secret = "cpu-script-secret-0123456789abcdef0123";
const logger = pino({ level: values["log-level"] }, pino.destination("/dev/null"));
const DRIVER = fileURLToPath(new URL("./levelUpDriver.ts", import.meta.url));

const pg = await startEmbeddedPostgres({ fast: true });
try {
  await migrate(pg.url);
  const token = await signToken({ sub: 1, role: "instructor" }, secret, { expiresIn: "1h" });
  process.stdout.write(
    `levelUp CPU per call, node ${process.version}, ${calls} calls per phase, log level ${values["log-level"]}\n`,
  );
  for (const target of targets) {
    const { url, learners, close } = await start(target, concurrency);
    const run = (mode: "sequential" | "concurrent") =>
      drive({ url, token, learners, calls, concurrency: mode === "sequential" ? 1 : concurrency });
    await run("concurrent"); // warm-up
    for (const mode of ["sequential", "concurrent"] as const) {
      const before = process.cpuUsage();
      const result = await run(mode);
      const used = process.cpuUsage(before);
      const cpuMs = (used.user + used.system) / 1000 / calls;
      const label = `${target.padEnd(8)} ${mode.padEnd(10)}`;
      process.stdout.write(
        `  ${label} cpu ${cpuMs.toFixed(3)} ms/call  p50 ${result.p50.toFixed(3)} ms  p99 ${result.p99.toFixed(3)} ms  ${Math.round(result.rate)}/s\n`,
      );
    }
    await close();
  }
} finally {
  await pg.stop();
}

async function start(target: string, learnerCount: number) {
  const database = createDatabase({ connectionString: pg.url, max: 10 });
  const setup = new ProgressLicenseCoupler({ pool: database.pool, db: database.db, logger: pino({ level: "silent" }) });
  const learners = await Promise.all(
    Array.from({ length: learnerCount }, () => enrolledUser(database, setup, "PLAYER")),
  );
  if (target === "minimal") {
    const server = minimalServer(database);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      learners,
      close: async () => {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
        await database.close();
      },
    };
  }
  await database.close();
  const api = await startServer({
    databaseUrl: pg.url,
    authSecret: secret,
    port: 0,
    host: "127.0.0.1",
    integrityIntervalMs: 0,
    poolSize: 10,
    logger,
    leanHttp: target === "lean",
  });
  return { url: api.url, learners, close: () => api.close() };
}

/** The same work without a framework: token, body, coupler call, JSON answer. */
function minimalServer(database: ReturnType<typeof createDatabase>) {
  const coupler = new ProgressLicenseCoupler({
    pool: database.pool,
    db: database.db,
    logger: pino({ level: "silent" }),
  });
  const authenticate = createAuthenticator(secretKey(secret));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => {
      void (async () => {
        const auth = await authenticate(req.headers.authorization);
        if (!auth.ok) return res.writeHead(401).end();
        const result = await coupler.levelUp(JSON.parse(body) as Parameters<typeof coupler.levelUp>[0], {
          actor: `instructor:${auth.principal.userId}`,
        });
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ result: { data: result } }));
      })().catch(() => res.writeHead(500).end());
    });
  });
  server.keepAliveTimeout = 65_000;
  return server;
}

function drive(job: { url: string; token: string; learners: number[]; calls: number; concurrency: number }) {
  return new Promise<{ p50: number; p99: number; rate: number }>((resolve, reject) => {
    const child = fork(DRIVER, { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    child.once("message", (message) => resolve(message as { p50: number; p99: number; rate: number }));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? undefined : reject(new Error(`driver exited with ${code}`))));
    child.send(job);
  });
}
