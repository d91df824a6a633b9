export { Catalogue } from "./catalogue.ts";
export { createDatabase, dbForClient, type Database, type DatabaseOptions, type Db, type Schema } from "./client.ts";
export {
  ProgressLicenseCoupler,
  findHistoryGap,
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
export { coreEnv, parseCoreEnv, type CoreEnv } from "./env.ts";
export {
  ConflictError,
  CouplerError,
  DatabaseError,
  DeadlockError,
  LockTimeoutError,
  NotFoundError,
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
export { GuardRefusedError, getGuard, setGuard, type GuardState } from "./guard.ts";
export * as inputs from "./inputs.ts";
export { repairDesyncs, runIntegrityAudit, type IntegrityCheck, type IntegrityFinding, type IntegrityReport, type PairRef } from "./integrity.ts";
export { createLogger, type Logger } from "./logger.ts";
export { MIGRATIONS_FOLDER, migrate } from "./migrate.ts";
export type { CouplerObserver, OperationEvent, OperationName, OperationOutcome } from "./observer.ts";
export { SPECIALIZATIONS, levelForXp, type Specialization, type SpecializationRules } from "./specializations.ts";
export { validated } from "./validate.ts";
export { runTransaction, type IsolationLevel, type TransactionFaults, type TransactionOptions } from "./transaction.ts";
export { createUser } from "./users.ts";
// Drizzle operators, so other packages need no drizzle-orm dependency of their own.
export { and, asc, count, desc, eq, sql } from "drizzle-orm";
