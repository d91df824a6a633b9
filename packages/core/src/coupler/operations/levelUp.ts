import { createHash } from "node:crypto";
import { ValidationError } from "../../errors/index.ts";
import type { LevelUpInput } from "../../inputs.ts";
import { levelForXp, type SpecializationRules } from "../../specializations.ts";
import type { PairRows, Planned, StoredResult } from "../change.ts";
import type { OperationContext } from "../CouplerRuntime.ts";
import type { LevelUpResult } from "../types.ts";
import { addXp } from "./addXp.ts";

export interface LevelUpStep extends LevelUpInput {
  rules: SpecializationRules;
  actor: string;
}

/**
 * Awards XP and sessions over the pair's rows in memory; the level follows the
 * XP curve, capped at the maximum and never lowered. `stored` is the result
 * kept for the call's idempotency key, if any: it is returned as it was
 * (nothing written), unless the key was used for a different request
 * (VALIDATION). Pure: throws before it plans any change.
 */
export function levelUp(
  ctx: OperationContext,
  pair: PairRows,
  stored: StoredResult | undefined,
  input: LevelUpStep,
): Planned<LevelUpResult> {
  const { progress, license } = pair;
  const requestHash = input.idempotencyKey ? levelUpRequestHash(input) : undefined;
  if (stored && input.idempotencyKey && requestHash) {
    if (stored.requestHash !== requestHash) {
      throw new ValidationError(
        `levelUp: idempotency key ${JSON.stringify(input.idempotencyKey)} was already used for a different request`,
        [{ path: ["idempotencyKey"], message: "already used for a different request" }],
        ctx,
      );
    }
    return { outcome: "replayed", result: { ...(stored.response as Omit<LevelUpResult, "replayed">), replayed: true } };
  }
  const totalXp = addXp(progress.totalXp, input.xpGained, ctx);
  const completedSessions = progress.completedSessions + input.sessionsCompleted;
  const floor = Math.max(progress.currentLevel, license.currentLevel);
  const newLevel = levelForXp(input.rules, totalXp, Math.min(floor, input.rules.maxLevel));
  const maxAchievedLevel = Math.max(license.maxAchievedLevel, newLevel);
  const response = {
    userId: input.userId,
    specialization: input.specialization,
    previousLevel: progress.currentLevel,
    newLevel,
    totalXp,
    completedSessions,
    maxAchievedLevel,
    leveledUp: newLevel > progress.currentLevel,
  };
  return {
    outcome: "applied",
    result: { ...response, replayed: false },
    change: {
      next: {
        currentLevel: newLevel,
        totalXp,
        completedSessions,
        maxAchievedLevel,
        reason: "level-up",
        actor: input.actor,
      },
      audit: {
        operation: "levelUp",
        xpDelta: input.xpGained,
        sessionsDelta: input.sessionsCompleted,
        fromLevel: license.currentLevel,
        toLevel: newLevel,
        actor: input.actor,
        idempotencyKey: input.idempotencyKey ?? null,
        outcome: "applied",
      },
      idempotency:
        input.idempotencyKey && requestHash
          ? { key: input.idempotencyKey, operation: "levelUp", actor: input.actor, requestHash, response }
          : undefined,
    },
  };
}

/** The hash an idempotency record keeps of a level-up request, to tell a replay from a reused key. */
export function levelUpRequestHash(input: LevelUpInput): string {
  const parts = ["levelUp", input.userId, input.specialization, input.xpGained, input.sessionsCompleted];
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}
