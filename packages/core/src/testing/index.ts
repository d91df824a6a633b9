export { startEmbeddedPostgres, freePort, type EmbeddedPostgresOptions, type RunningPostgres } from "./embeddedPostgres.ts";
export { createTestDatabase, adminQuery, withDatabase, type TestDatabase } from "./testDatabase.ts";
