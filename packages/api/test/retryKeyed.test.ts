import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { createDatabase } from "@coupler/core";
import { createCoupler, enrolledUser, waitForLockWaiters, whilePairLocked, type TestDatabase } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import { signToken } from "../src/auth.ts";
import { createCouplerClient } from "../src/client.ts";
import { isRetryableFailure, retryKeyed } from "../src/retryKeyed.ts";
import { freePort, startMain, waitFor, type RunningMain } from "./runMain.ts";

/*
 * Issue 24: the documented retry (`error.data?.retryable`) skipped the failure
 * a rolling restart causes: with the API unreachable, `data` is undefined
 * ("fetch failed"), so nothing retried. retryKeyed retries network failures
 * too, and only calls that carry an idempotency key.
 */

/** The `code` somewhere in an error's cause chain, e.g. ECONNREFUSED. */
function codeIn(error: unknown): string | undefined {
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string") return code;
    cause = cause.cause;
  }
  return undefined;
}

describe("retryKeyed against the API executable killed mid-call", () => {
  const started: RunningMain[] = [];
  let database: TestDatabase | undefined;

  afterAll(async () => {
    for (const main of started) main.child.kill("SIGKILL");
    await database?.drop();
  });

  it("applies a keyed level-up exactly once across SIGKILL, connection refused and a restart", async () => {
    database = await useTestDatabase();
    const db = database;
    const setup = createDatabase({ connectionString: db.url, max: 2 });
    const userId = await enrolledUser(setup, createCoupler(setup));
    await setup.close();
    const secret = randomBytes(32).toString("hex");
    const token = await signToken({ sub: 900_002, role: "instructor" }, secret, { expiresIn: "5m" });
    const env = { DATABASE_URL: db.url, AUTH_SECRET: secret, PORT: String(await freePort()) };
    const first = await startMain(env);
    started.push(first);
    const api = createCouplerClient(first.url, token, { batch: false });
    const input = {
      userId,
      specialization: "PLAYER" as const,
      xpGained: 150,
      sessionsCompleted: 1,
      idempotencyKey: "kill-1",
    };
    const failures: unknown[] = [];
    let calls = 0;
    const levelUp = (i: typeof input) => (calls++, api.progression.levelUp.mutate(i));

    const result = await whilePairLocked(db, userId, async (holder) => {
      const call = retryKeyed(levelUp, input, {
        attempts: 2_000,
        baseDelayMs: 50,
        maxDelayMs: 250,
        onRetry: (error) => failures.push(error),
      });
      // The call is in flight inside the API, waiting on the pair's rows, when the API dies.
      await waitForLockWaiters(db, { blockedBy: holder.pid });
      first.child.kill("SIGKILL");
      expect(await first.exited).toEqual({ code: null, signal: "SIGKILL" });
      // While it is down, every retry finds the port closed.
      await waitFor(() => failures.filter((e) => codeIn(e) === "ECONNREFUSED").length >= 2, 20_000);
      await holder.query("rollback");
      started.push(await startMain(env));
      return call;
    });

    expect(result).toMatchObject({ totalXp: 150, replayed: false });
    expect(failures.length).toBeGreaterThanOrEqual(3);
    expect(failures.every(isRetryableFailure)).toBe(true);
    expect(calls).toBe(failures.length + 1);
    const { rows } = await db.pool.query<{ xp: string; applied: number }>(
      `select (select total_xp from specialization_progress where student_id = $1 and specialization_id = 'PLAYER') as xp,
              (select count(*)::int from coupler_audit_log where user_id = $1 and idempotency_key = 'kill-1' and outcome = 'applied') as applied`,
      [userId],
    );
    expect(rows[0]).toEqual({ xp: "150", applied: 1 });
    // The same key again is a replay, not a second award.
    expect(await retryKeyed(levelUp, input)).toMatchObject({ totalXp: 150, replayed: true });
  }, 240_000);

  it("refuses to retry a mutation without an idempotency key, before sending anything", async () => {
    let calls = 0;
    const call = async () => {
      calls++;
      throw new TypeError("fetch failed");
    };
    const keyless: { userId: number; idempotencyKey?: string } = { userId: 1 };
    await expect(retryKeyed(call, keyless)).rejects.toThrow(/refusing to retry a call without an idempotencyKey/);
    expect(calls).toBe(0);
  });

  it("does not repeat a failure the server marks not retryable", async () => {
    let calls = 0;
    const refused = Object.assign(new Error("invalid input"), {
      data: { couplerCode: "VALIDATION", retryable: false },
    });
    const call = async () => {
      calls++;
      throw refused;
    };
    await expect(retryKeyed(call, { idempotencyKey: "k" }, { baseDelayMs: 1 })).rejects.toBe(refused);
    expect(calls).toBe(1);
  });
});
