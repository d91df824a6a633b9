import { TRPCError } from "@trpc/server";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import { describe, expect, it } from "vitest";
import {
  ConflictError,
  DatabaseError,
  DeadlockError,
  LockTimeoutError,
  NotFoundError,
  OverloadedError,
  UnavailableError,
  ValidationError,
  type CouplerError,
} from "@coupler/core";
import { errorDetails, toTRPCError } from "./errors.ts";
import { errorFormatter } from "./trpc.ts";

const CASES: [CouplerError, TRPCError["code"], boolean | undefined][] = [
  [new ValidationError("bad", [{ path: ["xpGained"], message: "XP must not be negative" }]), "BAD_REQUEST", false],
  [new NotFoundError("user", "user 9 does not exist"), "NOT_FOUND", false],
  [new LockTimeoutError("locked", { lockTimeoutMs: 10, noWait: false }), "CONFLICT", true],
  [new ConflictError("raced"), "CONFLICT", true],
  [new DeadlockError("deadlock", 4), "CONFLICT", true],
  [new UnavailableError("down"), "SERVICE_UNAVAILABLE", true],
  [new OverloadedError("1024 calls already wait for the pair", 1024), "TOO_MANY_REQUESTS", true],
  [new DatabaseError("levelUp: database error 42P01", "42P01"), "INTERNAL_SERVER_ERROR", undefined],
];

function shape(error: TRPCError) {
  return errorFormatter({ shape: { code: TRPC_ERROR_CODES_BY_KEY[error.code], message: error.message, data: { code: error.code, httpStatus: 0 } }, error });
}

describe("toTRPCError", () => {
  for (const [error, code, retryable] of CASES) {
    it(`maps ${error.code} to ${code}${retryable === undefined ? "" : ` with retryable ${retryable}`}, keeping the original as cause`, () => {
      const mapped = toTRPCError(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: error }));
      expect(mapped.code).toBe(code);
      expect(mapped.cause).toBe(error);
      expect(errorDetails(mapped)).toMatchObject({ couplerCode: error.code, ...(retryable === undefined ? {} : { retryable }) });
    });
  }

  it("carries a validation error's field issues into data.issues", () => {
    const mapped = toTRPCError(new ValidationError("bad", [{ path: ["xpGained"], message: "XP must not be negative" }]));
    expect(shape(mapped).data.issues).toEqual([{ path: "xpGained", message: "XP must not be negative" }]);
  });

  it("treats a dropped connection outside the coupler as SERVICE_UNAVAILABLE", () => {
    const dropped = Object.assign(new Error("Connection terminated unexpectedly"), {});
    expect(toTRPCError(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: dropped })).code).toBe("SERVICE_UNAVAILABLE");
  });

  it("passes the API's own errors through unchanged", () => {
    const forbidden = new TRPCError({ code: "FORBIDDEN", message: "no" });
    expect(toTRPCError(forbidden)).toBe(forbidden);
  });

  it("never shows a 500's cause: no SQL, no stack", () => {
    const leaky = new Error('relation "secret_table" does not exist: select * from secret_table');
    const formatted = shape(toTRPCError(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: leaky })));
    expect(formatted.message).toBe("Internal server error");
    expect(JSON.stringify(formatted)).not.toMatch(/secret_table|stack/);
  });
});
