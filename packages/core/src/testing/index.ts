export { startEmbeddedPostgres, freePort, type EmbeddedPostgresOptions, type RunningPostgres } from "./embeddedPostgres.ts";
export { createTestDatabase, adminQuery, withDatabase, type TestDatabase } from "./testDatabase.ts";
export {
  auditRows,
  createCoupler,
  createUsers,
  enrolledUser,
  enrolledUsers,
  historySteps,
  pairRows,
  rawTransaction,
  snapshotTables,
  waitForLockWaiters,
  whilePairLocked,
  withSession,
} from "./fixtures.ts";
