import { expect } from "vitest";
import { isCouplerError, type CouplerError, type CouplerErrorCode } from "@coupler/core";

/** Awaits `promise`, asserts it rejected with a coupler error of `code`, and returns the error. */
export async function expectCouplerError(promise: Promise<unknown>, code: CouplerErrorCode): Promise<CouplerError> {
  const error: unknown = await promise.then(
    (value) => {
      throw new Error(`expected a ${code} error, got a result: ${JSON.stringify(value)}`);
    },
    (rejection: unknown) => rejection,
  );
  if (!isCouplerError(error)) throw new Error(`expected a coupler error, got ${String(error)}`, { cause: error });
  expect(error.code, error.message).toBe(code);
  return error;
}
