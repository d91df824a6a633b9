import { DrizzleQueryError } from "drizzle-orm/errors";
import pg from "pg";
import { describe, expect, it } from "vitest";
import {
  ConflictError,
  CouplerError,
  DatabaseError,
  DeadlockError,
  LockTimeoutError,
  UnavailableError,
  ValidationError,
  isConnectionError,
  isCouplerError,
  toCouplerError,
  type CouplerErrorCode,
} from "@coupler/core";

const context = {
  operation: "levelUp",
  userId: 7,
  specialization: "PLAYER",
  lockTimeoutMs: 200,
  noWait: false,
  attempts: 3,
};

/** A server error as pg reports it (pg's own DatabaseError class). */
function pgError(code: string, extra: { constraint?: string } = {}): pg.DatabaseError {
  const error = new pg.DatabaseError(`server error ${code}`, 0, "error");
  error.code = code;
  if (extra.constraint) error.constraint = extra.constraint;
  return error;
}

/** What a driver-level error becomes, as [code, retryable, class]. */
function classify(error: unknown) {
  const result = toCouplerError(error, context);
  return { code: result.code, retryable: result.retryable, name: result.name };
}

describe("toCouplerError", () => {
  it.each<[string, unknown, CouplerErrorCode, boolean, string]>([
    ["55P03 lock_not_available", pgError("55P03"), "LOCK_TIMEOUT", true, "LockTimeoutError"],
    ["40P01 deadlock_detected", pgError("40P01"), "DEADLOCK", true, "DeadlockError"],
    ["40001 serialization_failure", pgError("40001"), "CONFLICT", true, "ConflictError"],
    ["57P01 admin_shutdown", pgError("57P01"), "UNAVAILABLE", true, "UnavailableError"],
    ["08006 connection_failure", pgError("08006"), "UNAVAILABLE", true, "UnavailableError"],
    ["53300 too_many_connections", pgError("53300"), "UNAVAILABLE", true, "UnavailableError"],
    ["57014 query_canceled", pgError("57014"), "UNAVAILABLE", true, "UnavailableError"],
    [
      "ECONNREFUSED",
      Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" }),
      "UNAVAILABLE",
      true,
      "UnavailableError",
    ],
    [
      "a terminated connection",
      new Error("Connection terminated unexpectedly"),
      "UNAVAILABLE",
      true,
      "UnavailableError",
    ],
    [
      "Citus: a COMMIT that did not reach its worker (XX000)",
      Object.assign(pgError("XX000"), {
        message: "could not commit transaction for shard 102083 on at least one active node",
      }),
      "UNAVAILABLE",
      true,
      "UnavailableError",
    ],
    ["23505 unique_violation", pgError("23505", { constraint: "users_email_unique" }), "DB", false, "DatabaseError"],
    ["22012 division_by_zero", pgError("22012"), "DB", false, "DatabaseError"],
    ["an error without a code", new Error("something else"), "DB", false, "DatabaseError"],
    ["a thrown string", "boom", "DB", false, "DatabaseError"],
  ])("maps %s to its code", (_name, error, code, retryable, name) => {
    expect(classify(error)).toEqual({ code, retryable, name });
  });

  it("keeps the original error as cause and names the call and the constraint", () => {
    const original = pgError("23505", { constraint: "users_email_unique" });
    const error = toCouplerError(original, context);
    expect(error.cause).toBe(original);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ sqlState: "23505", operation: "levelUp", userId: 7, specialization: "PLAYER" });
    expect(error.message).toBe("levelUp for user 7 in PLAYER: database error 23505 (constraint users_email_unique)");
  });

  it("reports the lock timeout, NOWAIT and attempts it was given", () => {
    expect(toCouplerError(pgError("55P03"), context)).toMatchObject({ lockTimeoutMs: 200, noWait: false });
    expect(toCouplerError(pgError("55P03"), { ...context, noWait: true }).message).toContain("NOWAIT");
    expect(toCouplerError(pgError("40P01"), context)).toMatchObject({ attempts: 3 });
  });

  it("passes a coupler error through unchanged", () => {
    const original = new ValidationError("bad input");
    expect(toCouplerError(original, context)).toBe(original);
  });
});

describe("error classes", () => {
  it("carry stable codes and retryable flags", () => {
    expect(new LockTimeoutError("x", { lockTimeoutMs: 1, noWait: true })).toMatchObject({
      code: "LOCK_TIMEOUT",
      retryable: true,
    });
    expect(new DeadlockError("x", 2)).toMatchObject({ code: "DEADLOCK", retryable: true });
    expect(new ConflictError("x")).toMatchObject({ code: "CONFLICT", retryable: true });
    expect(new UnavailableError("x")).toMatchObject({ code: "UNAVAILABLE", retryable: true });
    expect(new ValidationError("x")).toMatchObject({ code: "VALIDATION", retryable: false });
    expect(new DatabaseError("x", undefined)).toMatchObject({ code: "DB", retryable: false });
  });

  it("isCouplerError recognises coupler errors, also from another copy of the package", () => {
    expect(isCouplerError(new ValidationError("x"))).toBe(true);
    const foreign = Object.assign(new Error("from another copy"), { code: "NOT_FOUND", retryable: false });
    expect(isCouplerError(foreign)).toBe(true);
    expect(isCouplerError(Object.assign(new Error("pg"), { code: "23505", retryable: false }))).toBe(false);
    expect(isCouplerError(new Error("plain"))).toBe(false);
    expect(isCouplerError({ code: "VALIDATION", retryable: false })).toBe(false);
    expect(new CouplerError("DB", "x")).toBeInstanceOf(Error);
  });
});

describe("DrizzleQueryError cause handling", () => {
  it("treats a wrapped connection failure as a connection error", () => {
    const wrapped = new DrizzleQueryError("select 1", [], new Error("Connection terminated unexpectedly"));
    expect(isConnectionError(wrapped)).toBe(true);
    expect(classify(wrapped).code).toBe("UNAVAILABLE");
  });
});
