export { ProgressLicenseCoupler, type Input } from "./ProgressLicenseCoupler.ts";
export { findHistoryGap } from "./findHistoryGap.ts";
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
