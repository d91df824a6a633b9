import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CitusRouter, nodeUrl, splitAddress } from "@coupler/core";
import type { TestDatabase } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

/**
 * The parts of the Citus router that need no cluster: how it addresses a
 * node, and what it does on plain PostgreSQL (test/citus/routing.test.ts
 * runs the rest on a real cluster).
 */
let database: TestDatabase;
beforeAll(async () => {
  database = await useTestDatabase({ max: 2 });
});
afterAll(() => database.drop());

describe("splitAddress", () => {
  it("splits host:port, an IPv6 host in brackets, and refuses anything else with a RangeError", () => {
    expect(splitAddress("worker-1.internal:5432")).toEqual(["worker-1.internal", 5432]);
    expect(splitAddress("[::1]:6432")).toEqual(["[::1]", 6432]);
    for (const bad of ["worker-1", "worker-1:", ":5432", "w:0", "w:70000", "a:b:5432"])
      expect(() => splitAddress(bad), bad).toThrow(RangeError);
  });
});

describe("nodeUrl", () => {
  const base = "postgres://app:s3cret@coordinator.internal:5432/coupler?sslmode=require&application_name=x";

  it("takes the node's address from pg_dist_node and everything else (user, password, database, parameters) from DATABASE_URL", () => {
    expect(nodeUrl(base, "10.0.0.5:5433")).toBe(
      "postgres://app:s3cret@10.0.0.5:5433/coupler?sslmode=require&application_name=x",
    );
  });

  it("uses an override's host and port, or an override URL whole with its own credentials", () => {
    const addresses = { "worker-1:5432": "127.0.0.1:6432", "worker-2:5432": "postgres://other:pw@w2.example:5432/db2" };
    expect(nodeUrl(base, "worker-1:5432", addresses)).toBe(
      "postgres://app:s3cret@127.0.0.1:6432/coupler?sslmode=require&application_name=x",
    );
    expect(nodeUrl(base, "worker-2:5432", addresses)).toBe("postgres://other:pw@w2.example:5432/db2");
    expect(() => nodeUrl(base, "worker-3:5432", { "worker-3:5432": "nowhere" })).toThrow(RangeError);
  });
});

describe("CitusRouter on plain PostgreSQL", () => {
  it("refuses to start where there is no Citus catalog (the server then routes through its one pool)", async () => {
    await expect(
      CitusRouter.start({ coordinator: database.pool, connectionString: database.url, refreshIntervalMs: 0 }),
    ).rejects.toThrow(/pg_dist_shard/);
  });
});
