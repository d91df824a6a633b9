import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { inputs } from "@coupler/core";
import { createCoupler, enrolledUser } from "@coupler/testing";
import { expectTRPCError, startTestApi, type TestApi } from "./harness.ts";

const lines: { msg: string }[] = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line) as { msg: string });
    done();
  },
});

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ logger: pino({ level: "info" }, sink) });
});
afterAll(() => api.close());

describe("per-call work", () => {
  it("logs one line per call at info", async () => {
    const learner = await enrolledUser(api.database, createCoupler(api.database));
    const instructor = await api.client("instructor", undefined, { batch: false });
    lines.length = 0;
    for (let i = 0; i < 5; i++)
      await instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 1,
        sessionsCompleted: 1,
      });
    await instructor.progression.get.query({ userId: learner, specialization: "PLAYER" });
    await vi.waitFor(() => expect(lines).toHaveLength(6));
    expect(lines.map((l) => l.msg)).toEqual(Array(6).fill("request"));
  });

  it("parses a level-up's input once, in tRPC, and still refuses invalid input", async () => {
    const learner = await enrolledUser(api.database, createCoupler(api.database));
    const instructor = await api.client("instructor", undefined, { batch: false });
    // The coupler's own parse goes through safeParse; tRPC's parse of `validated(schema)` does not.
    const coreParses = vi.spyOn(inputs.levelUpInput, "safeParse");
    try {
      await instructor.progression.levelUp.mutate({
        userId: learner,
        specialization: "PLAYER",
        xpGained: 1,
        sessionsCompleted: 1,
      });
      expect(coreParses).not.toHaveBeenCalled();
      await expectTRPCError(
        instructor.progression.levelUp.mutate({
          userId: learner,
          specialization: "PLAYER",
          xpGained: -1,
          sessionsCompleted: 1,
        }),
        "BAD_REQUEST",
      );
      expect(coreParses).not.toHaveBeenCalled();
      // A direct caller of the coupler is still checked by the coupler.
      await expect(
        api.server.services.coupler.levelUp({
          userId: learner,
          specialization: "PLAYER",
          xpGained: -1,
          sessionsCompleted: 1,
        }),
      ).rejects.toMatchObject({ code: "VALIDATION" });
      expect(coreParses).toHaveBeenCalledTimes(1);
    } finally {
      coreParses.mockRestore();
    }
  });
});
