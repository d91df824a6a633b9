import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoupler, enrolledUser } from "@coupler/testing";
import { expectTRPCError, startTestApi, type TestApi } from "./harness.ts";

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ leanHttp: true });
});
afterAll(() => api.close());

describe("the typed client against the lean path", () => {
  for (const batch of [false, true]) {
    const link = batch ? "httpBatchLink" : "httpLink";
    it(`queries, mutates and receives typed errors with ${link}`, async () => {
      const learner = await enrolledUser(api.database, createCoupler(api.database));
      const instructor = await api.client("instructor", undefined, { batch });
      const up = await instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 150,
        sessionsCompleted: 1,
      });
      expect(up).toMatchObject({ userId: learner, newLevel: 2, leveledUp: true });
      const [pair, history] = await Promise.all([
        instructor.progression.get.query({ userId: learner, specialization: "PLAYER" }),
        instructor.progression.history.query({ userId: learner, specialization: "PLAYER" }),
      ]);
      expect(pair).toMatchObject({ progress: { currentLevel: 2 }, license: { currentLevel: 2 } });
      expect(history.items).toHaveLength(1);
      const bad = await expectTRPCError(
        instructor.progression.levelUp.mutate({
          userId: learner,
          specialization: "PLAYER",
          xpGained: -1,
          sessionsCompleted: 1,
        }),
        "BAD_REQUEST",
      );
      expect(bad.issues).toEqual([{ path: "xpGained", message: "XP must not be negative" }]);
      await expectTRPCError(instructor.admin.guard.query(), "FORBIDDEN");
    });
  }
});
