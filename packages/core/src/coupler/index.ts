export { ProgressLicenseCoupler, type Input } from "./ProgressLicenseCoupler.ts";
export { findHistoryGap } from "./findHistoryGap.ts";
export { DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_QUEUE_PER_PAIR, type CombiningOptions } from "./combiner.ts";
export type {
  AdvanceResult,
  CallOptions,
  ConsistencyIssue,
  ConsistencyIssueCode,
  ConsistencyReport,
  CouplerFaults,
  CouplerOptions,
  EnrollResult,
  HistoryEntry,
  HistoryPage,
  LevelChange,
  LevelUpResult,
  LicenseState,
  PairState,
  ProgressState,
  SyncResult,
  UpdateLevelResult,
} from "./types.ts";
