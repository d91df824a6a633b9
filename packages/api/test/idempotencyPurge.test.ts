import { setTimeout as sleep } from "node:timers/promises";
import { createCoupler, enrolledUser } from "@coupler/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi } from "./harness.ts";

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ idempotencyRetentionMs: 60_000, idempotencyPurgeIntervalMs: 100 });
});
afterAll(() => api.close());

async function keyCount(userId: number): Promise<number> {
  const { rows } = await api.database.pool.query<{ n: number }>(
    "select count(*)::int as n from idempotency_keys where user_id = $1",
    [userId],
  );
  return rows[0]?.n ?? -1;
}

describe("the idempotency key purge", () => {
  it("removes keys past the retention in the background and keeps younger ones", async () => {
    const learner = await enrolledUser(api.database, createCoupler(api.database));
    const instructor = await api.client("instructor");
    for (const key of ["purge-old-0001", "purge-new-0001"]) {
      await instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 10,
        sessionsCompleted: 1,
        idempotencyKey: key,
      });
    }
    await api.database.pool.query(
      "update idempotency_keys set created_at = now() - interval '2 minutes' where user_id = $1 and key = 'purge-old-0001'",
      [learner],
    );
    const deadline = Date.now() + 10_000;
    while ((await keyCount(learner)) > 1 && Date.now() < deadline) await sleep(50);
    const { rows } = await api.database.pool.query<{ key: string }>(
      "select key from idempotency_keys where user_id = $1",
      [learner],
    );
    expect(rows.map((r) => r.key)).toEqual(["purge-new-0001"]);
  });
});
