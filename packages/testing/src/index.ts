export {
  citusAvailability,
  startCitusCluster,
  startPlainPostgres,
  type CitusAvailability,
  type CitusCluster,
  type CitusDatabase,
  type CitusNode,
} from "./citusCluster.ts";
export {
  explainRouting,
  isTransactionControl,
  recordStatements,
  type SentStatement,
  type StatementRouting,
} from "./citusRouting.ts";
export { checkCitusRules, type CitusLayout, type CitusViolation } from "./citusRules.ts";
export { createTestDatabase, type TestDatabase } from "./testDatabase.ts";
export { recordingPool } from "./recordingPool.ts";
export {
  COMBINING_MODES,
  Session,
  auditRows,
  backendPid,
  couplerHeldBeforeCommit,
  createCoupler,
  createUsers,
  enrolledUser,
  enrolledUsers,
  historySteps,
  pairRows,
  rawTransaction,
  recordingObserver,
  snapshotTables,
  terminateBackend,
  waitForLockWaiters,
  whilePairLocked,
  withSession,
} from "./fixtures.ts";
export { edgeIds, hashSample, seededRandom, type HashSample } from "./hashSample.ts";
export { logCitusCommands, type CitusCommandLog } from "./citusCommandLog.ts";
