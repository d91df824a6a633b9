import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoupler, enrolledUser, rawTransaction, waitForLockWaiters, withSession } from "@coupler/testing";
import { INSTRUCTOR_ID, expectTRPCError, startTestApi, type TestApi } from "./harness.ts";

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());

async function metricsText(url: string): Promise<string> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
  return res.text();
}

/** The value of one sample line, e.g. `coupler_deadlocks_total` or `name{a="b"}`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function until<T>(probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 500; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(10);
  }
  throw new Error("condition never became true");
}

describe("health and readiness", () => {
  it("answers /healthz and /readyz with 200 while the database is reachable", async () => {
    expect(await (await fetch(`${api.url}/healthz`)).json()).toEqual({ status: "ok" });
    const ready = await fetch(`${api.url}/readyz`);
    expect(ready.status).toBe(200);
  });

  it("answers unknown paths with 404", async () => {
    expect((await fetch(`${api.url}/nope`)).status).toBe(404);
  });
});

describe("/metrics", () => {
  it("reports calls by outcome, durations, lock waits, contention, zero deadlocks, the integrity gauges and HTTP timings after traffic", async () => {
    const learner = await enrolledUser(api.database, createCoupler(api.database));
    const instructor = await api.client("instructor");
    const admin = await api.client("admin");
    for (let i = 0; i < 5; i++)
      await instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 10,
        sessionsCompleted: 1,
      });
    await expectTRPCError(
      instructor.progression.levelUp.mutate({
        userId: 2_000_000,
        specialization: "PLAYER",
        xpGained: 1,
        sessionsCompleted: 1,
      }),
      "NOT_FOUND",
    );
    // One contended call: another session holds the pair's locks until the call is seen waiting.
    await withSession(api.database, async (holder) => {
      await holder.lockPair(learner);
      const waiting = instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 10,
        sessionsCompleted: 1,
      });
      await waitForLockWaiters(api.database, { blockedBy: holder.pid });
      await holder.query("rollback");
      await waiting;
    });
    // A desync planted behind the coupler's back shows in the gauge after the next check.
    await admin.admin.setGuard.mutate({ enabled: false });
    const desynced = await enrolledUser(api.database, createCoupler(api.database));
    await rawTransaction(api.database, [
      ["update user_licenses set current_level = 3, max_achieved_level = 3 where user_id = $1", [desynced]],
    ]);
    await admin.admin.integrity.query();

    const text = await metricsText(api.url);
    expect(sample(text, 'coupler_operations_total{operation="levelUp",outcome="applied",code=""}')).toBe(6);
    expect(sample(text, 'coupler_operations_total{operation="levelUp",outcome="error",code="NOT_FOUND"}')).toBe(1);
    expect(sample(text, 'coupler_operation_duration_seconds_count{operation="levelUp"}')).toBe(7);
    expect(sample(text, 'coupler_operation_duration_seconds_sum{operation="levelUp"}')).toBeGreaterThan(0);
    expect(sample(text, 'coupler_lock_wait_seconds_count{operation="levelUp"}')).toBeGreaterThanOrEqual(6);
    expect(sample(text, 'coupler_lock_contention_total{operation="levelUp",cause="row_lock"}')).toBeGreaterThanOrEqual(
      1,
    );
    // None of this traffic deadlocked (the next test makes one that does).
    expect(sample(text, "coupler_deadlocks_total")).toBe(0);
    expect(text).toContain("# TYPE coupler_retries_total counter");
    expect(sample(text, "progress_license_desync_count")).toBe(1);
    expect(sample(text, "orphan_record_count")).toBe(0);
    expect(sample(text, 'http_request_duration_seconds_count{procedure="progression.levelUp",status="200"}')).toBe(6);
    expect(sample(text, 'http_request_duration_seconds_count{procedure="progression.levelUp",status="404"}')).toBe(1);
    expect(text).toContain("process_cpu_user_seconds_total");

    await admin.progression.sync.mutate({ userId: desynced, specialization: "PLAYER", source: "license" });
  });

  it("counts a real deadlock in coupler_deadlocks_total and the retry that resolved it in coupler_retries_total", async () => {
    // A server of its own, so its pool's connections start after deadlock_timeout is set: they check for
    // a deadlock one second into a lock wait; the raw session below only after ten, so the API's
    // backend is the one PostgreSQL aborts (as in packages/testing/test/core/deadlock.test.ts).
    await withSession(api.database, (s) =>
      s.query(`alter database "${api.database.name}" set deadlock_timeout = '1s'`),
    );
    await using served = await startTestApi({ database: api.database });
    const learner = await enrolledUser(api.database, createCoupler(api.database));
    const instructor = await served.client("instructor");
    const before = await metricsText(served.url);
    expect(sample(before, "coupler_deadlocks_total")).toBe(0);

    // On Citus the distributed deadlock detector picks the victim by its own rule, and may pick the raw
    // session: then the API's attempt was never aborted, and nothing may be counted.
    let rawWasVictim = false;
    const result = await withSession(api.database, async (raw) => {
      await raw.query("set deadlock_timeout = '10s'");
      await raw.query("begin");
      // The license first: the reverse of the coupler's order (progress, then license).
      await raw.query("select 1 from user_licenses where user_id = $1 and specialization_type = 'PLAYER' for update", [
        learner,
      ]);
      const call = instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 100,
        sessionsCompleted: 1,
      });
      await waitForLockWaiters(api.database, { blockedBy: raw.pid });
      // Closes the cycle; granted once PostgreSQL has aborted the API's attempt with deadlock_detected.
      try {
        await raw.query(
          "select 1 from specialization_progress where student_id = $1 and specialization_id = 'PLAYER' for update",
          [learner],
        );
      } catch (error) {
        if (!/distributed deadlock/.test((error as Error).message)) throw error;
        rawWasVictim = true;
      }
      await raw.query("rollback");
      return call;
    });

    // The level-up applied once either way; the counters moved by exactly the deadlock the API saw and its retry.
    expect(result).toMatchObject({ totalXp: 100, newLevel: 2 });
    const after = await metricsText(served.url);
    const aborted = rawWasVictim ? 0 : 1;
    expect(sample(after, "coupler_deadlocks_total")).toBe(aborted);
    // A counter series appears with its first increment: absent is none.
    expect(sample(after, 'coupler_retries_total{operation="levelUp"}') ?? 0).toBe(aborted);
    expect(sample(after, 'coupler_operations_total{operation="levelUp",outcome="applied",code=""}')).toBe(1);
  });

  it("refreshes the desync gauge by itself with the periodic integrity check", async () => {
    await using watched = await startTestApi({ integrityIntervalMs: 50 });
    const learner = await enrolledUser(watched.database, createCoupler(watched.database));
    await rawTransaction(watched.database, [
      ["update specialization_progress set current_level = 2 where student_id = $1", [learner]],
    ]);
    const gauge = await until(async () => {
      const value = sample(await metricsText(watched.url), "progress_license_desync_count");
      return value === 1 ? value : undefined;
    });
    expect(gauge).toBe(1);
  });
});

describe("resilience", () => {
  it("keeps serving after the pool's idle connections are killed", async () => {
    const learner = await enrolledUser(api.database, createCoupler(api.database));
    const instructor = await api.client("instructor", INSTRUCTOR_ID, { batch: false });
    // Fill the pool with several idle connections.
    await Promise.all(
      Array.from({ length: 4 }, () => instructor.progression.get.query({ userId: learner, specialization: "PLAYER" })),
    );
    // The learner's pool: the server's own, or under Citus direct routing its worker's, whose backends
    // are killed on that node (the coordinator's pool has background traffic of its own there).
    const pool = api.server.connections.source.poolFor(learner);
    expect(pool.idleCount).toBeGreaterThan(0);
    const node = { url: pool.options.connectionString ?? api.database.url };
    const killed = await withSession(node, async (session) => {
      const { rows } = await session.query(
        `select pg_terminate_backend(pid, 5000) from pg_stat_activity
         where datname = current_database() and application_name = 'coupler-api' and state = 'idle'`,
      );
      return rows.length;
    });
    expect(killed).toBeGreaterThan(0);
    // The pool drops each dead client when its 'error' event arrives (no listener would crash the process).
    await until(async () => (pool.totalCount === 0 ? true : undefined));
    const result = await instructor.progression.levelUp.mutate({
      userId: learner,
      specialization: "PLAYER",
      xpGained: 100,
      sessionsCompleted: 1,
    });
    expect(result).toMatchObject({ newLevel: 2 });
    expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
  });

  it("drains an in-flight call on close, then refuses new connections and closes the pool", async () => {
    const closing = await startTestApi({ database: api.database });
    const learner = await enrolledUser(api.database, createCoupler(api.database));
    const instructor = await closing.client("instructor");
    await withSession(api.database, async (holder) => {
      await holder.lockPair(learner);
      const inFlight = instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 100,
        sessionsCompleted: 1,
      });
      await waitForLockWaiters(api.database, { blockedBy: holder.pid });
      const closed = closing.server.close();
      await expect(fetch(`${closing.url}/healthz`)).rejects.toThrow();
      await holder.query("rollback");
      expect(await inFlight).toMatchObject({ newLevel: 2 });
      await closed;
    });
    expect(closing.server.services.pool.totalCount).toBe(0);
  });
});
