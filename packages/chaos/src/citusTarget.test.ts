import { citusAvailability, startCitusCluster, type CitusCluster } from "@coupler/testing";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { citusChaosDatabase, type CitusFaultTargets } from "./citusTarget.ts";
import { moveLearnerShard } from "./moveShard.ts";
import { Random } from "./random.ts";

/**
 * The kill loop on Citus picks only the workload's backends. Before, it
 * killed any client backend on a worker, the shard move's own connections
 * included, and no `pnpm chaos --citus --grow` run ever finished its
 * rebalance. Skips, saying why, without Citus.
 */
const availability = citusAvailability();
if (!availability.available) console.log(`Citus chaos-target suite skipped: ${availability.reason}`);

const VICTIM = "coupler-chaos";

describe.skipIf(!availability.available)("the chaos kill loop on a Citus cluster", () => {
  let cluster: CitusCluster;
  let database: Awaited<ReturnType<typeof citusChaosDatabase>>;
  let targets: CitusFaultTargets;
  let admin: pg.Pool;

  beforeAll(async () => {
    cluster = await startCitusCluster({ workers: 2 });
    database = await citusChaosDatabase(cluster, false);
    targets = database.targets;
    admin = new pg.Pool({ connectionString: database.url, max: 4, application_name: "coupler-chaos-admin" });
    admin.on("error", () => {});
    await admin.query(
      "insert into users (name, email) select 'l' || g, 'l' || g || '@example.test' from generate_series(1, 20) g",
    );
  }, 240_000);
  afterAll(async () => {
    await admin?.end();
    await targets?.close();
    await database?.drop();
    await cluster?.stop();
  }, 120_000);

  it("kills the workload's own worker connections and never a shard move's, so a move under the kills finishes", async () => {
    const { rows } = await admin.query<{ id: string }>("select id::text from users order by id limit 1");
    const userId = Number(rows[0]?.id);
    // A workload connection on every worker, each kept busy in a transaction, re-opened when killed.
    let killedWorkload = 0;
    let running = true;
    const busy = database.workerUrls.map(async (url) => {
      while (running) {
        const client = new pg.Client({ connectionString: url, application_name: VICTIM });
        client.on("error", () => {});
        try {
          await client.connect();
          await client.query("begin");
          while (running) await client.query("select pg_sleep(0.05)");
          await client.query("commit");
        } catch {
          killedWorkload++;
        } finally {
          await client.end().catch(() => {});
        }
      }
    });
    const random = new Random(7);
    let kills = 0;
    const killing = (async () => {
      while (running) {
        if (await targets.killWorkerBackend(random, VICTIM)) kills++;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const move = await moveLearnerShard(admin, {
      userIds: [userId],
      startAfterMs: 0,
      timeoutMs: 120_000,
      log: () => {},
    });
    running = false;
    await Promise.all([killing, ...busy]);
    expect({ error: move.error, retried: move.stepFailures }).toEqual({ error: undefined, retried: [] });
    expect(kills).toBeGreaterThan(0);
    expect(killedWorkload).toBeGreaterThan(0);
  }, 180_000);
});
