import { createHash } from "node:crypto";
import { ValidationError } from "../../errors/index.ts";
import type { LevelUpInput } from "../../inputs.ts";
import { levelForXp, type SpecializationRules } from "../../specializations.ts";
import type { LockedPair } from "../lockPair.ts";
import type { Outcome, WriteTx } from "../runOperation.ts";
import type { LevelUpResult } from "../types.ts";
import { addXp } from "./addXp.ts";
import { writeChange } from "../writeChange.ts";

export interface LevelUpStep extends LevelUpInput {
  rules: SpecializationRules;
  actor: string;
}

/**
 * Awards XP and sessions; the level follows the XP curve, capped at the
 * maximum and never lowered. A stored result for the idempotency key is
 * returned as it was, unless the key was used for a different request.
 */
export async function levelUp(tx: WriteTx, pair: LockedPair, input: LevelUpStep): Promise<Outcome<LevelUpResult>> {
  const { progress, license, stored } = pair;
  const requestHash = input.idempotencyKey
    ? hashRequest(["levelUp", input.userId, input.specialization, input.xpGained, input.sessionsCompleted])
    : undefined;
  if (stored && input.idempotencyKey && requestHash) {
    if (stored.requestHash !== requestHash) {
      throw new ValidationError(
        `levelUp: idempotency key ${JSON.stringify(input.idempotencyKey)} was already used for a different request`,
        [{ path: ["idempotencyKey"], message: "already used for a different request" }],
        tx.ctx,
      );
    }
    return { outcome: "replayed", result: { ...(stored.response as Omit<LevelUpResult, "replayed">), replayed: true } };
  }
  const totalXp = addXp(progress.totalXp, input.xpGained, tx.ctx);
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
  await writeChange(tx, pair, {
    next: { currentLevel: newLevel, totalXp, completedSessions, maxAchievedLevel, reason: "level-up", actor: input.actor },
    audit: {
      operation: "levelUp",
      userId: input.userId,
      specializationId: input.specialization,
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
        ? {
            key: input.idempotencyKey,
            operation: "levelUp",
            userId: input.userId,
            specializationId: input.specialization,
            caller: input.actor,
            requestHash,
            response,
          }
        : undefined,
  });
  return { outcome: "applied", result: { ...response, replayed: false } };
}

function hashRequest(parts: unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}
