export { ProgressLicenseCoupler } from "./ProgressLicenseCoupler.ts";
export { findHistoryGap } from "./findHistoryGap.ts";
export { DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_QUEUE_PER_PAIR } from "./combiner.ts";
export { onePool, type ConnectionSource } from "./ConnectionSource.ts";
export type {
  AdvanceResult,
  CallOptions,
  CombiningOptions,
  ConsistencyIssue,
  ConsistencyIssueCode,
  ConsistencyReport,
  CouplerFaults,
  CouplerOptions,
  EnrollResult,
  HistoryEntry,
  HistoryPage,
  Input,
  LevelChange,
  LevelUpResult,
  LicenseState,
  PairState,
  ProgressState,
  SyncResult,
  UpdateLevelResult,
} from "./types.ts";
