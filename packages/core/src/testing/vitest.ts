import { inject } from "vitest";
import { createTestDatabase, type TestDatabase } from "./testDatabase.ts";

/** A fresh, migrated database for the calling test file (see globalSetup.ts). */
export function useTestDatabase(options: { max?: number } = {}): Promise<TestDatabase> {
  return createTestDatabase(inject("couplerAdminUrl"), inject("couplerTemplate"), options);
}
