import { inject } from "vitest";
// The ProvidedContext keys that globalSetup provides (type only; nothing of it runs here).
import type {} from "./globalSetup.ts";
import { createCitusTestDatabase, createTestDatabase, type TestDatabase } from "./testDatabase.ts";

export { expectCallsMet } from "./expectCallsMet.ts";
export { expectCouplerError } from "./expectCouplerError.ts";

/** A fresh, migrated database for the calling test file (see globalSetup.ts); on Citus (COUPLER_TEST_CITUS), distributed too. */
export function useTestDatabase(options: { max?: number } = {}): Promise<TestDatabase> {
  const citus = inject("couplerCitus");
  if (citus) {
    const [coordinator = "", ...workers] = JSON.parse(citus) as string[];
    return createCitusTestDatabase(coordinator, workers, options);
  }
  return createTestDatabase(inject("couplerAdminUrl"), inject("couplerTemplate"), options);
}
