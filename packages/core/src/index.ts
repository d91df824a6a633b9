export { Catalogue, type CatalogueOptions, type Track } from "./catalogue.ts";
export {
  createDatabase,
  dbForClient,
  describeDbError,
  type Database,
  type DatabaseOptions,
  type Db,
  type Schema,
} from "./client.ts";
export {
  ProgressLicenseCoupler,
  findHistoryGap,
  DEFAULT_MAX_BATCH_SIZE,
  DEFAULT_MAX_QUEUE_PER_PAIR,
  onePool,
  type CombiningOptions,
  type ConnectionSource,
  type CallOptions,
  type ConsistencyIssue,
  type ConsistencyIssueCode,
  type ConsistencyReport,
  type CouplerFaults,
  type CouplerOptions,
  type EnrollResult,
  type HistoryEntry,
  type HistoryPage,
  type LevelUpResult,
  type LicenseState,
  type PairState,
  type ProgressState,
  type SyncResult,
  type UpdateLevelResult,
  type AdvanceResult,
} from "./coupler/index.ts";
export { ConfigError, LOG_LEVELS, configFields, databaseConfig, orExit, parseConfig } from "./config.ts";
export {
  ConflictError,
  CouplerError,
  DatabaseError,
  DeadlockError,
  LockTimeoutError,
  NotFoundError,
  OverloadedError,
  SqlState,
  UnavailableError,
  ValidationError,
  isConnectionError,
  isCouplerError,
  sqlStateOf,
  toCouplerError,
  type CouplerErrorCode,
  type CouplerErrorContext,
  type MissingEntity,
  type ValidationIssue,
} from "./errors/index.ts";
export { CITUS_LAYOUT, CitusSetupError, couplerOnCitus, distributeOnCitus, type CitusDistribution } from "./citus.ts";
export { GuardRefusedError, getGuard, setGuard, type GuardState } from "./guard.ts";
export {
  DEFAULT_IDEMPOTENCY_RETENTION_MS,
  purgeExpiredIdempotencyKeys,
  type PurgeOptions,
  type Queryable,
} from "./idempotency.ts";
export * as inputs from "./inputs.ts";
export type { SpecializationId, TrackInput } from "./inputs.ts";
export { couplerIssueMessage, missingInputMessage } from "./issueMessages.ts";
export {
  repairDesyncs,
  runIntegrityAudit,
  type IntegrityCheck,
  type IntegrityFinding,
  type IntegrityReport,
  type PairRef,
} from "./integrity.ts";
export { DEFAULT_LOG_LEVEL, REDACT_PATHS, createLogger, type Logger } from "./logger.ts";
export { MIGRATIONS_FOLDER, assertServerVersion, migrate, type MigrateOptions } from "./migrate.ts";
export {
  MIGRATION_IMPACT,
  describePendingMigrations,
  pendingMigrations,
  type MigrationImpact,
  type PendingMigration,
} from "./migrationPlan.ts";
export { REDACTED, redactSecrets, redactUrl } from "./redact.ts";
export type {
  ContentionCause,
  CouplerObserver,
  OperationEvent,
  OperationName,
  OperationOutcome,
  RouteMissEvent,
} from "./observer.ts";
export { SPECIALIZATIONS, levelForXp, type Specialization, type SpecializationRules } from "./specializations.ts";
export { validated } from "./validate.ts";
export { runTransaction, type IsolationLevel, type TransactionFaults, type TransactionOptions } from "./transaction.ts";
export { TrackInUseError, putTrack, removeTrack, type TrackWriteOptions } from "./tracks.ts";
export { createUser } from "./users.ts";
// Drizzle operators, so other packages need no drizzle-orm dependency of their own.
export { and, asc, count, desc, eq, sql } from "drizzle-orm";
export { hashInt8, hashUint32, shardIndexOf, type ShardRange } from "./citus/shardHash.ts";
export { readWorkerMap, WorkerMap, type PlacedShard, type ShardNode } from "./citus/WorkerMap.ts";
export { SHARD_ROUTED_TABLES, ShardTables, clientOnShards } from "./citus/ShardTables.ts";
export { LEARNER_IDS_SETTING, LEARNER_ID_ORDER, ORDERED_IDS } from "./citus/learnerIdOrder.ts";
export {
  CitusRouter,
  nodeUrl,
  splitAddress,
  type CitusRoute,
  type CitusRouterOptions,
  type RouteDecision,
  type RouterStats,
} from "./citus/CitusRouter.ts";
