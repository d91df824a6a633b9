import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, createLogger, redactSecrets, redactUrl } from "@coupler/core";
import type { TestDatabase } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

describe("redactUrl", () => {
  it("replaces the password and keeps the user, host, port and database", () => {
    expect(redactUrl("postgres://coupler:s3cret@db.internal:5432/coupler")).toBe(
      "postgres://coupler:***@db.internal:5432/coupler",
    );
  });

  it("leaves a URL without a password as it was", () => {
    expect(redactUrl("postgresql://coupler@127.0.0.1:5432/coupler")).toBe(
      "postgresql://coupler@127.0.0.1:5432/coupler",
    );
    expect(redactUrl("postgres://127.0.0.1/coupler")).toBe("postgres://127.0.0.1/coupler");
  });

  it("replaces a percent-encoded password whole", () => {
    const redacted = redactUrl("postgres://coupler:p%40ss%3Aw%2Fd@db:5432/coupler");
    expect(redacted).toBe("postgres://coupler:***@db:5432/coupler");
    expect(redacted).not.toContain("p%40ss");
  });

  it("keeps query parameters and redacts a password passed as one", () => {
    expect(redactUrl("postgres://u:pw@db/coupler?sslmode=require&application_name=api")).toBe(
      "postgres://u:***@db/coupler?sslmode=require&application_name=api",
    );
    const redacted = redactUrl("postgres://u@db/coupler?password=hunter2&sslmode=require");
    expect(redacted).not.toContain("hunter2");
    expect(redacted).toContain("sslmode=require");
  });

  it("scrubs a string that is not a URL instead of returning it unchanged", () => {
    expect(redactUrl("not a url, but postgres://u:pw@db/x")).toBe("not a url, but postgres://u:***@db/x");
  });
});

describe("redactSecrets", () => {
  it("scrubs connection-string passwords and bearer tokens out of free text", () => {
    expect(redactSecrets("connect postgres://u:pw@h:5432/d failed; Authorization: Bearer abc.def.ghi")).toBe(
      "connect postgres://u:***@h:5432/d failed; Authorization: Bearer ***",
    );
  });
});

describe("createLogger", () => {
  function capture() {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString("utf8"));
        done();
      },
    });
    return { lines, logger: createLogger("test", "info", stream) };
  }

  it("logs neither an Authorization header nor a password, secret or token field", () => {
    const { lines, logger } = capture();
    logger.info({ req: { headers: { authorization: "Bearer eyJ.secret-token.sig" } } }, "request");
    logger.info(
      { authorization: "Bearer eyJ.secret-token.sig", password: "hunter2", options: { secret: "s3", token: "t0k" } },
      "fields",
    );
    const output = lines.join("");
    for (const leaked of ["secret-token", "hunter2", '"s3"', "t0k"]) expect(output).not.toContain(leaked);
    expect(output).toContain("***");
  });

  it("scrubs a connection-string password out of a logged error, its stack and its cause", () => {
    const { lines, logger } = capture();
    const cause = new Error("could not reach postgres://coupler:causepw@db:5432/coupler");
    logger.error({ err: new Error("pool failed for postgres://coupler:toppw@db:5432/coupler", { cause }) }, "failed");
    const output = lines.join("");
    expect(output).not.toContain("toppw");
    expect(output).not.toContain("causepw");
    expect(output).toContain("postgres://coupler:***@db:5432/coupler");
  });

  it("drops an object hung on a logged error (pg-pool's err.client, with the backend's cancel key) and keeps its message and code", () => {
    const { lines, logger } = capture();
    const error = Object.assign(new Error("Connection terminated unexpectedly"), {
      code: "57P01",
      client: { processID: 4242, secretKey: 987654321, activeQuery: { text: "select secret_sql" } },
    });
    logger.warn({ err: error }, "failed");
    const output = lines.join("");
    for (const leaked of ["secretKey", "987654321", "processID", "secret_sql"]) expect(output).not.toContain(leaked);
    expect(output).toContain("Connection terminated unexpectedly");
    expect(output).toContain("57P01");
  });
});

describe("a pool whose idle client's backend is terminated", () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await useTestDatabase({ max: 2 });
  });
  afterAll(() => database.drop());

  it("logs the failure without the pg Client: no secretKey, processID or SQL text (regression: the whole client was dumped)", async () => {
    const lines: string[] = [];
    const logger = createLogger(
      "test",
      "debug",
      new Writable({ write: (chunk: Buffer, _encoding, done) => void (lines.push(chunk.toString("utf8")), done()) }),
    );
    const pool = createDatabase({ connectionString: database.url, max: 1, logger });
    try {
      const { rows } = await pool.pool.query<{ pid: number }>("select pg_backend_pid() as pid /* marker_sql_text */");
      await database.pool.query("select pg_terminate_backend($1)", [rows[0]?.pid]);
      for (let i = 0; i < 100 && !lines.some((l) => l.includes("idle database client failed")); i++)
        await new Promise((r) => setTimeout(r, 50));
      const output = lines.join("");
      expect(output).toContain("idle database client failed; the pool discarded it");
      expect(output).toContain("57P01"); // admin_shutdown: what the pool was told, no more
      for (const leaked of ["secretKey", "processID", "marker_sql_text", "pg_backend_pid"])
        expect(output).not.toContain(leaked);
    } finally {
      await pool.close();
    }
  });
});
