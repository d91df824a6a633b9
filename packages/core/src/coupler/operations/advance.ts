import type { AdvanceInput } from "../../inputs.ts";
import type { PairRows, Planned } from "../change.ts";
import type { OperationContext } from "../CouplerRuntime.ts";
import type { AdvanceResult } from "../types.ts";
import { addXp } from "./addXp.ts";

export type AdvanceStep = Required<AdvanceInput> & { actor: string };

/**
 * Sets both rows to `newLevel` over the pair's rows in memory, optionally
 * adding XP and sessions. The license's highest level is max(old, new); a
 * history row is written when the level changes, an audit row always. A call
 * that changes nothing is a no-op. Pure: throws before it plans any change.
 */
export function advance(ctx: OperationContext, pair: PairRows, input: AdvanceStep): Planned<AdvanceResult> {
  const { progress, license } = pair;
  const totalXp = addXp(progress.totalXp, input.xpChange, ctx);
  const completedSessions = progress.completedSessions + input.sessionsChange;
  const maxAchievedLevel = Math.max(license.maxAchievedLevel, input.newLevel);
  const changed =
    progress.currentLevel !== input.newLevel ||
    license.currentLevel !== input.newLevel ||
    input.xpChange !== 0 ||
    input.sessionsChange !== 0;
  const outcome = changed ? "applied" : "noop";
  return {
    outcome,
    result: {
      userId: input.userId,
      specialization: input.specialization,
      previousLevel: progress.currentLevel,
      newLevel: input.newLevel,
      totalXp,
      completedSessions,
      maxAchievedLevel,
      changed,
    },
    change: {
      next: changed
        ? {
            currentLevel: input.newLevel,
            totalXp,
            completedSessions,
            maxAchievedLevel,
            reason: input.reason,
            actor: input.actor,
          }
        : undefined,
      audit: {
        operation: "advance",
        xpDelta: input.xpChange,
        sessionsDelta: input.sessionsChange,
        fromLevel: license.currentLevel,
        toLevel: input.newLevel,
        actor: input.actor,
        idempotencyKey: null,
        outcome,
      },
    },
  };
}
