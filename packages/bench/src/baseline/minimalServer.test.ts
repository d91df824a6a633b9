import { createCoupler, enrolledUsers } from "@coupler/testing";
// Brings in the ProvidedContext keys the global setup provides (for `inject` types).
import type {} from "@coupler/testing/globalSetup";
import { useTestDatabase } from "@coupler/testing/vitest";
import { afterAll, describe, expect, it } from "vitest";
import { footprint } from "../../test/footprint.ts";
import { startMinimalServer } from "./minimalServer.ts";

const database = await useTestDatabase({ max: 4 });
const server = await startMinimalServer({
  databaseUrl: database.url,
  poolSize: 2,
  lockTimeoutMs: 2000,
  port: 0,
  host: "127.0.0.1",
});
afterAll(async () => {
  await server.close();
  await database.drop();
});

/** A level-up as k6 sends it to the API: tRPC's path and body, a bearer token the baseline ignores. */
function levelUp(input: { userId: number; specialization: string; xpGained: number; sessionsCompleted: number }) {
  return fetch(`${server.url}/trpc/progression.levelUp`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer ignored" },
    body: JSON.stringify(input),
  });
}

describe("the minimal baseline server", () => {
  it("applies a level-up exactly as the coupler does: the same rows, history and audit, and the same answer", async () => {
    const coupler = createCoupler(database);
    const [viaCoupler, viaMinimal] = await enrolledUsers(database, coupler, 2);
    if (viaCoupler === undefined || viaMinimal === undefined) throw new Error("two learners expected");
    for (const xp of [40, 70, 250, 0, 5000]) {
      const expected = await coupler.levelUp({
        userId: viaCoupler,
        specialization: "PLAYER",
        xpGained: xp,
        sessionsCompleted: 1,
      });
      const res = await levelUp({ userId: viaMinimal, specialization: "PLAYER", xpGained: xp, sessionsCompleted: 1 });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ result: { data: { ...expected, userId: viaMinimal } } });
    }
    const expected = await footprint(database, viaCoupler);
    expect(expected).toMatchObject({ progress_level: 10, license_level: 10, xp: 5360, sessions: 5 });
    expect(await footprint(database, viaMinimal)).toEqual(expected);
  });

  it("answers 404 for any other path and 500 for a learner that is not enrolled", async () => {
    expect((await fetch(`${server.url}/trpc/progression.sync`, { method: "POST", body: "{}" })).status).toBe(404);
    const res = await levelUp({ userId: 2_000_000, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 1 });
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: { message: "learner 2000000 is not enrolled in PLAYER" } });
  });
});
