import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "@coupler/core";
import { createCoupler, enrolledUser } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import type { TestDatabase } from "@coupler/testing";
import { createCouplerClient } from "../src/client.ts";
import { parseApiConfig, serverSettings } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { INSTRUCTOR_ID, expectTRPCError, startTestApi, type TestApi } from "./harness.ts";

let database: TestDatabase;
beforeAll(async () => {
  database = await useTestDatabase();
});
afterAll(() => database.drop());

/** The settings an environment with `env` gives, as main passes them on. */
function settingsFrom(env: Record<string, string>) {
  return serverSettings(parseApiConfig(env));
}

describe("AUTH_MAX_TOKEN_LIFETIME", () => {
  it("refuses a 2 h token when set to 3600, and accepts a 30 min one", async () => {
    const { maxTokenLifetimeSeconds } = settingsFrom({ AUTH_MAX_TOKEN_LIFETIME: "3600" });
    await using api = await startTestApi({ database, maxTokenLifetimeSeconds });
    const learner = await enrolledUser(database, createCoupler(database));
    const pair = { userId: learner, specialization: "PLAYER" } as const;

    const twoHours = createCouplerClient(api.url, await api.token("instructor", INSTRUCTOR_ID, "2h"));
    const refused = await expectTRPCError(twoHours.progression.get.query(pair), "UNAUTHORIZED");
    expect(refused.message).toContain("1h maximum");

    const halfHour = createCouplerClient(api.url, await api.token("instructor", INSTRUCTOR_ID, "30m"));
    expect((await halfHour.progression.get.query(pair)).license.currentLevel).toBe(1);
  });
});

/**
 * Names of the prepared statements on every connection of the pools the API
 * serves `learner` from (the view is per session): its main pool, and on
 * Citus with direct routing the pool of the worker that holds the learner.
 */
async function preparedOnEveryConnection(api: TestApi, learner: number): Promise<string[]> {
  const pools = new Set([api.server.services.pool, api.server.connections.source.poolFor(learner)]);
  const names: string[] = [];
  for (const pool of pools) {
    const clients = await Promise.all(Array.from({ length: pool.totalCount }, () => pool.connect()));
    try {
      for (const client of clients)
        for (const row of (await client.query<{ name: string }>("select name from pg_prepared_statements")).rows)
          names.push(row.name);
    } finally {
      for (const client of clients) client.release();
    }
  }
  return names;
}

describe("COUPLER_PREPARED_STATEMENTS", () => {
  /** Three level-ups of a new learner through the API; returns the learner. */
  async function levelUpsThrough(api: TestApi): Promise<number> {
    const learner = await enrolledUser(database, createCoupler(database));
    const instructor = await api.client("instructor");
    for (let i = 0; i < 3; i++) {
      const result = await instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 100,
        sessionsCompleted: 1,
      });
      expect(result.totalXp).toBe(100 * (i + 1));
    }
    return learner;
  }

  it("off: level-ups are served and no coupler_* statement is prepared on the API's connections", async () => {
    const { preparedStatements } = settingsFrom({ COUPLER_PREPARED_STATEMENTS: "off" });
    expect(preparedStatements).toBe(false);
    await using api = await startTestApi({ database, preparedStatements });
    const learner = await levelUpsThrough(api);
    expect((await preparedOnEveryConnection(api, learner)).filter((name) => name.startsWith("coupler_"))).toEqual([]);
  });

  it("on (the default): the same level-ups leave coupler_* statements prepared, so the check above can see them", async () => {
    await using api = await startTestApi({ database, preparedStatements: settingsFrom({}).preparedStatements });
    const learner = await levelUpsThrough(api);
    expect((await preparedOnEveryConnection(api, learner)).some((name) => name.startsWith("coupler_"))).toBe(true);
  });
});

describe("secrets in the server's logs", () => {
  it("logs neither a request's bearer token nor the database password, even in an error quoting the connection string", async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString("utf8"));
        done();
      },
    });
    const password = `pw-${randomBytes(8).toString("hex")}`;
    // Nothing listens on port 1: readiness fails and its error is logged.
    const databaseUrl = `postgres://coupler:${password}@127.0.0.1:1/coupler`;
    const server = await startServer({
      databaseUrl,
      authSecret: randomBytes(32).toString("hex"),
      port: 0,
      integrityIntervalMs: 0,
      logger: createLogger("coupler-api", "debug", destination),
    });
    const token = "eyJhbGciOiJIUzI1NiJ9.leaked-token-claims.signature";
    try {
      const ready = await fetch(`${server.url}/readyz`, { headers: { authorization: `Bearer ${token}` } });
      expect(ready.status).toBe(503);
      await fetch(`${server.url}/trpc/admin.guard`, { headers: { authorization: `Bearer ${token}` } });
      // What a driver error quoting its connection string, logged with the request's headers, would look like.
      server.services.logger.error(
        {
          err: new Error(`could not connect to ${databaseUrl}`),
          req: { headers: { authorization: `Bearer ${token}` } },
        },
        "procedure failed",
      );
    } finally {
      await server.close();
    }
    const output = lines.join("");
    expect(output).toContain("coupler API listening");
    expect(output).toContain("readiness check failed");
    expect(output).toContain("postgres://coupler:***@127.0.0.1:1/coupler");
    expect(output).not.toContain(password);
    expect(output).not.toContain("leaked-token-claims");
  });
});
