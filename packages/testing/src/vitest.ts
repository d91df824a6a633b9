import { inject } from "vitest";
// The ProvidedContext keys that globalSetup provides (type only; nothing of it runs here).
import type {} from "./globalSetup.ts";
import { createTestDatabase, type TestDatabase } from "./testDatabase.ts";

export { expectCouplerError } from "./expectCouplerError.ts";

/** A fresh, migrated database for the calling test file (see globalSetup.ts). */
export function useTestDatabase(options: { max?: number } = {}): Promise<TestDatabase> {
  return createTestDatabase(inject("couplerAdminUrl"), inject("couplerTemplate"), options);
}
