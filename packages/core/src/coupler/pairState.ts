import type { SpecializationProgress, UserLicense } from "../schema.ts";
import type { LicenseState, PairState, ProgressState } from "./types.ts";

export function toProgressState(p: SpecializationProgress): ProgressState {
  return {
    currentLevel: p.currentLevel,
    totalXp: p.totalXp,
    completedSessions: p.completedSessions,
    updatedAt: p.updatedAt,
  };
}

export function toLicenseState(l: UserLicense): LicenseState {
  return { id: l.id, currentLevel: l.currentLevel, maxAchievedLevel: l.maxAchievedLevel, updatedAt: l.updatedAt };
}

export function toPairState(p: SpecializationProgress, l: UserLicense): PairState {
  return {
    userId: p.studentId,
    specialization: p.specializationId,
    progress: toProgressState(p),
    license: toLicenseState(l),
  };
}
