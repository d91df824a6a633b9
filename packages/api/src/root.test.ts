import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CouplerError, createLogger } from "@coupler/core";
import { createCoupler, enrolledUser, snapshotTables, whilePairLocked } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import type { TestDatabase } from "@coupler/testing";
import type {} from "@coupler/testing/globalSetup";
import type { AuthResult, Principal } from "./auth.ts";
import { createContextInner, type Services } from "./context.ts";
import { createCaller } from "./root.ts";

let database: TestDatabase;
let services: Services;
let learner: number;
beforeAll(async () => {
  database = await useTestDatabase();
  const logger = createLogger("test", "silent");
  services = {
    coupler: createCoupler(database, { lockTimeoutMs: 50, logger }),
    pool: database.pool,
    logger,
    benchMode: false,
  };
  learner = await enrolledUser(database, services.coupler);
});
afterAll(() => database.drop());

const as = (principal: Principal) => createCaller(createContextInner({ services, auth: { ok: true, principal } }));
const anonymous = (auth: AuthResult = { ok: false, reason: "missing Authorization header" }) =>
  createCaller(createContextInner({ services, auth }));

async function trpcError(promise: Promise<unknown>): Promise<TRPCError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TRPCError);
  return error as TRPCError;
}

describe("the router through createCaller", () => {
  it("levels a learner up for an instructor and writes the instructor as actor", async () => {
    const result = await as({ userId: 7, role: "instructor" }).progression.levelUp({
      userId: learner,
      specialization: "PLAYER",
      xpGained: 100,
      sessionsCompleted: 1,
    });
    expect(result).toMatchObject({ newLevel: 2, leveledUp: true });
    const history = await as({ userId: learner, role: "student" }).progression.history({
      userId: learner,
      specialization: "PLAYER",
    });
    expect(history.items[0]).toMatchObject({ actor: "instructor:7", fromLevel: 1, toLevel: 2 });
    expect(typeof history.items[0]?.createdAt).toBe("string");
  });

  it("refuses an anonymous caller with UNAUTHORIZED and a student writing with FORBIDDEN", async () => {
    expect((await trpcError(anonymous().progression.get({ userId: learner, specialization: "PLAYER" }))).code).toBe(
      "UNAUTHORIZED",
    );
    const student = as({ userId: learner, role: "student" });
    expect(
      (
        await trpcError(
          student.progression.levelUp({ userId: learner, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 0 }),
        )
      ).code,
    ).toBe("FORBIDDEN");
    expect((await trpcError(student.progression.get({ userId: learner + 1, specialization: "PLAYER" }))).code).toBe(
      "FORBIDDEN",
    );
  });

  it("maps a coupler NOT_FOUND to NOT_FOUND and keeps the coupler error as cause", async () => {
    const error = await trpcError(
      as({ userId: 1, role: "admin" }).progression.get({ userId: 2_000_000, specialization: "PLAYER" }),
    );
    expect(error.code).toBe("NOT_FOUND");
    expect(error.message).toMatch(/user 2000000 does not exist/);
    expect(error.cause).toBeInstanceOf(CouplerError);
  });

  it("maps a lock timeout to a retryable CONFLICT and writes nothing", async () => {
    const before = await snapshotTables(database);
    const error = await whilePairLocked(database, learner, () =>
      trpcError(
        as({ userId: 7, role: "instructor" }).progression.levelUp({
          userId: learner,
          specialization: "PLAYER",
          xpGained: 5,
          sessionsCompleted: 1,
        }),
      ),
    );
    expect(error.code).toBe("CONFLICT");
    expect(error).toMatchObject({ couplerCode: "LOCK_TIMEOUT", retryable: true });
    expect(await snapshotTables(database)).toEqual(before);
  });

  it("hides bench procedures when bench mode is off, even from admins", async () => {
    const error = await trpcError(
      as({ userId: 1, role: "admin" }).bench.legacySync({
        userId: learner,
        specialization: "PLAYER",
        source: "progress",
      }),
    );
    expect(error.code).toBe("NOT_FOUND");
  });
});
