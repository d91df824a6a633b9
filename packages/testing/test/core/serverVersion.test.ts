import { describe, expect, it } from "vitest";
import { assertServerVersion } from "@coupler/core";

describe("migrate", () => {
  it("refuses a server older than PostgreSQL 15", () => {
    expect(() => assertServerVersion(140011)).toThrow(/PostgreSQL 15 or newer; the server is 140011/);
    expect(() => assertServerVersion(0)).toThrow(/PostgreSQL 15/);
    expect(() => assertServerVersion(Number.NaN)).toThrow(/PostgreSQL 15/);
    expect(() => assertServerVersion(150000)).not.toThrow();
    expect(() => assertServerVersion(170004)).not.toThrow();
  });
});
