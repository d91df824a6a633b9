import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { adminQuery, withDatabase } from "@coupler/embedded";
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

/** Runs `fn` on a new, empty (unmigrated) database on the test server, dropped afterwards, e.g. to test migrations. */
export async function withEmptyDatabase(fn: (url: string) => Promise<void>): Promise<void> {
  const adminUrl = inject("couplerAdminUrl");
  const name = `coupler_empty_${randomBytes(4).toString("hex")}`;
  await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
  try {
    await fn(withDatabase(adminUrl, name));
  } finally {
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}
