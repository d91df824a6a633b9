import type { PairInput } from "../../inputs.ts";
import type { SpecializationRules } from "../../specializations.ts";
import { findHistoryGap } from "../findHistoryGap.ts";
import type { Outcome } from "../CouplerRuntime.ts";
import type { PairTransaction } from "../PairTransaction.ts";
import { toLicenseState, toProgressState } from "../pairState.ts";
import type { ConsistencyIssue, ConsistencyReport } from "../types.ts";

/** Checks one pair, read in one statement with its history chain: both halves present, levels equal and in range, history contiguous. */
export async function validate(
  tx: PairTransaction,
  input: PairInput & { rules: SpecializationRules },
): Promise<Outcome<ConsistencyReport>> {
  const { progress, license, userExists, chain } = await tx.readPair(input, { chain: true });
  if (!progress && !license) await tx.notEnrolled(input, userExists);
  const issues: ConsistencyIssue[] = [];
  if (!progress) issues.push({ code: "MISSING_PROGRESS", message: "the license has no progress row" });
  if (!license) issues.push({ code: "MISSING_LICENSE", message: "the progress has no license row" });
  if (progress && license && progress.currentLevel !== license.currentLevel) {
    issues.push({
      code: "LEVEL_MISMATCH",
      message: `progress is at level ${progress.currentLevel}, the license at ${license.currentLevel}`,
    });
  }
  for (const [name, lvl] of [
    ["progress", progress?.currentLevel],
    ["license", license?.currentLevel],
  ] as const) {
    if (lvl !== undefined && (lvl < 1 || lvl > input.rules.maxLevel)) {
      issues.push({
        code: "LEVEL_OUT_OF_RANGE",
        message: `${name} level ${lvl} is outside 1..${input.rules.maxLevel}`,
      });
    }
  }
  if (license && license.maxAchievedLevel < license.currentLevel) {
    issues.push({ code: "MAX_BELOW_CURRENT", message: "max_achieved_level is below current_level" });
  }
  if (license) {
    const gap = findHistoryGap(chain, license.currentLevel);
    if (gap) issues.push({ code: "HISTORY_GAP", message: gap });
  }
  return {
    outcome: "noop",
    result: {
      userId: input.userId,
      specialization: input.specialization,
      consistent: issues.length === 0,
      issues,
      progress: progress ? toProgressState(progress) : null,
      license: license ? toLicenseState(license) : null,
    },
  };
}
