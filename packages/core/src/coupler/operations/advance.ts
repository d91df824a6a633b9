import type { UpdateLevelInput } from "../../inputs.ts";
import type { LockedPair } from "../lockPair.ts";
import type { Outcome, WriteTx } from "../runOperation.ts";
import type { AdvanceResult } from "../types.ts";
import { writeChange } from "../writeChange.ts";
import { addXp } from "./addXp.ts";

export type AdvanceStep = Required<Omit<UpdateLevelInput, "actor">> & { actor: string };

/**
 * Sets both rows to `newLevel`, optionally adding XP and sessions. The
 * license's highest level is max(old, new); a history row is written when the
 * level changes, an audit row always. A call that changes nothing is a no-op.
 */
export async function advance(tx: WriteTx, pair: LockedPair, input: AdvanceStep): Promise<Outcome<AdvanceResult>> {
  const { progress, license } = pair;
  const totalXp = addXp(progress.totalXp, input.xpChange, tx.ctx);
  const completedSessions = progress.completedSessions + input.sessionsChange;
  const maxAchievedLevel = Math.max(license.maxAchievedLevel, input.newLevel);
  const changed =
    progress.currentLevel !== input.newLevel ||
    license.currentLevel !== input.newLevel ||
    input.xpChange !== 0 ||
    input.sessionsChange !== 0;
  await writeChange(tx, pair, {
    next: changed
      ? { currentLevel: input.newLevel, totalXp, completedSessions, maxAchievedLevel, reason: input.reason, actor: input.actor }
      : undefined,
    audit: {
      operation: "advance",
      userId: input.userId,
      specializationId: input.specialization,
      xpDelta: input.xpChange,
      sessionsDelta: input.sessionsChange,
      fromLevel: license.currentLevel,
      toLevel: input.newLevel,
      actor: input.actor,
      outcome: changed ? "applied" : "noop",
    },
  });
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
  };
}
