import { and, eq, LockTimeoutError, sql, sqlStateOf, toCouplerError } from "@coupler/core";
import { specializationProgress, userEmails } from "@coupler/core/schema";
import { DrizzleQueryError } from "drizzle-orm/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoupler, enrolledUser, type TestDatabase, whilePairLocked } from "../../src/index.ts";
import { useTestDatabase } from "../../src/vitest.ts";

let database: TestDatabase;

beforeAll(async () => {
  database = await useTestDatabase({ max: 4 });
});
afterAll(() => database.drop());

const context = {
  operation: "levelUp",
  userId: 7,
  specialization: "PLAYER",
  lockTimeoutMs: 200,
  noWait: false,
  attempts: 3,
};

describe("DrizzleQueryError cause handling", () => {
  it("finds the SQLSTATE on err.cause.code of a real DrizzleQueryError", async () => {
    const error = await database.db.execute(sql`select 1 / 0`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DrizzleQueryError);
    expect((error as { code?: unknown }).code).toBeUndefined();
    expect((error as DrizzleQueryError).cause).toMatchObject({ code: "22012" });
    expect(sqlStateOf(error)).toBe("22012");
    expect(toCouplerError(error, context)).toMatchObject({ code: "DB", sqlState: "22012" });
  });

  it("reads the constraint name from the cause of a wrapped unique violation", async () => {
    const values = { email: `twin-${process.pid}@example.test`, userId: 1 };
    await database.db.insert(userEmails).values(values);
    const error = await database.db
      .insert(userEmails)
      .values(values)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DrizzleQueryError);
    expect(toCouplerError(error, context).message).toContain("23505 (constraint user_emails_pkey)");
  });

  it("maps a wrapped lock_not_available from a real NOWAIT lock to LOCK_TIMEOUT", async () => {
    const coupler = createCoupler(database);
    const id = await enrolledUser(database, coupler);
    const error = await whilePairLocked(database, id, () =>
      database.db
        .select()
        .from(specializationProgress)
        .where(and(eq(specializationProgress.studentId, id), eq(specializationProgress.specializationId, "PLAYER")))
        .for("update", { noWait: true })
        .catch((e: unknown) => e),
    );
    expect(error).toBeInstanceOf(DrizzleQueryError);
    expect(sqlStateOf(error)).toBe("55P03");
    expect(toCouplerError(error, { ...context, noWait: true })).toBeInstanceOf(LockTimeoutError);
  });
});
