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
import { errorFormatter, serverError } from "./trpc.ts";

const CASES: [CouplerError, TRPCError["code"], boolean | undefined][] = [
  [new ValidationError("bad", [{ path: ["xpGained"], message: "XP must not be negative" }]), "BAD_REQUEST", false],
  [new NotFoundError("user", "user 9 does not exist"), "NOT_FOUND", false],
  [new LockTimeoutError("locked", { lockTimeoutMs: 10, noWait: false }), "CONFLICT", true],
  [new ConflictError("raced"), "CONFLICT", true],
  [new DeadlockError("deadlock", 4), "CONFLICT", true],
  [new UnavailableError("down"), "SERVICE_UNAVAILABLE", true],
  [new OverloadedError("1024 calls already wait for the pair", 1024), "TOO_MANY_REQUESTS", true],
  [new DatabaseError("levelUp: database error 42P01", "42P01"), "INTERNAL_SERVER_ERROR", false],
];

function shape(error: TRPCError) {
  return errorFormatter({
    shape: {
      code: TRPC_ERROR_CODES_BY_KEY[error.code],
      message: error.message,
      data: { code: error.code, httpStatus: 0 },
    },
    error,
  });
}

describe("toTRPCError", () => {
  for (const [error, code, retryable] of CASES) {
    it(`maps ${error.code} to ${code}${retryable === undefined ? "" : ` with retryable ${retryable}`}, keeping the original as cause`, () => {
      const mapped = toTRPCError(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: error }));
      expect(mapped.code).toBe(code);
      expect(mapped.cause).toBe(error);
      expect(errorDetails(mapped)).toMatchObject({
        couplerCode: error.code,
        ...(retryable === undefined ? {} : { retryable }),
      });
    });
  }

  it("carries a validation error's field issues into data.issues", () => {
    const mapped = toTRPCError(
      new ValidationError("bad", [{ path: ["xpGained"], message: "XP must not be negative" }]),
    );
    expect(shape(mapped).data.issues).toEqual([{ path: "xpGained", message: "XP must not be negative" }]);
  });

  it("treats a dropped connection outside the coupler as SERVICE_UNAVAILABLE", () => {
    const dropped = Object.assign(new Error("Connection terminated unexpectedly"), {});
    expect(toTRPCError(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: dropped })).code).toBe(
      "SERVICE_UNAVAILABLE",
    );
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

describe("the error formatter", () => {
  const codes = Object.keys(TRPC_ERROR_CODES_BY_KEY) as TRPCError["code"][];
  it("gives every tRPC code (so every HTTP status, 429 included) a couplerCode and a boolean retryable", () => {
    for (const code of codes) {
      const { data } = shape(new TRPCError({ code, message: "x" }));
      expect(typeof data.couplerCode, code).toBe("string");
      expect(typeof data.retryable, code).toBe("boolean");
    }
  });

  it("names the errors the API raises itself with stable codes", () => {
    const codeOf = (code: TRPCError["code"]) => serverError(code, "x").data;
    expect(codeOf("BAD_REQUEST")).toMatchObject({ couplerCode: "VALIDATION", retryable: false, httpStatus: 400 });
    expect(codeOf("UNAUTHORIZED")).toMatchObject({ couplerCode: "UNAUTHENTICATED", retryable: false, httpStatus: 401 });
    expect(codeOf("FORBIDDEN")).toMatchObject({ couplerCode: "FORBIDDEN", retryable: false, httpStatus: 403 });
    expect(codeOf("NOT_FOUND")).toMatchObject({ couplerCode: "NOT_FOUND", retryable: false, httpStatus: 404 });
    expect(codeOf("PAYLOAD_TOO_LARGE")).toMatchObject({
      couplerCode: "PAYLOAD_TOO_LARGE",
      retryable: false,
      httpStatus: 413,
    });
    expect(codeOf("UNSUPPORTED_MEDIA_TYPE")).toMatchObject({
      couplerCode: "UNSUPPORTED_MEDIA_TYPE",
      retryable: false,
      httpStatus: 415,
    });
    expect(codeOf("TOO_MANY_REQUESTS")).toMatchObject({
      couplerCode: "TOO_MANY_REQUESTS",
      retryable: true,
      httpStatus: 429,
    });
    expect(codeOf("SERVICE_UNAVAILABLE")).toMatchObject({
      couplerCode: "UNAVAILABLE",
      retryable: true,
      httpStatus: 503,
    });
  });
});
