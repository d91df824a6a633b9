import { NotFoundError } from "../../errors/index.ts";
import type { SyncInput } from "../../inputs.ts";
import type { HistoryStep, LockedRows, Planned } from "../change.ts";
import type { OperationContext } from "../CouplerRuntime.ts";
import type { SyncResult } from "../types.ts";

export type SyncStep = SyncInput & { actor: string };

/**
 * Repairs a pair from the named side, over the locked rows in memory (a half
 * may be missing): `progress` copies the progress level onto the license (a
 * history row when it moves), `license` the license level onto the
 * progress. A missing half is recreated from the other (a rebuilt license's
 * history starts at level 1 and steps to its level). It also repairs what a
 * writer that bypassed the coupler leaves behind: a history chain that does
 * not end at the license's level gets a row from where it ends to that level
 * (when `rows.historyEnd` was read), and a highest level below the current
 * one is raised. A pair with nothing to repair is a no-op. Pure: throws
 * NOT_FOUND when the side to copy from is missing.
 */
export function sync(ctx: OperationContext, rows: LockedRows, input: SyncStep): Planned<SyncResult> {
  const { progress, license, historyEnd } = rows;
  const from = input.source === "progress" ? progress : license;
  if (!from) {
    throw new NotFoundError(
      input.source,
      `sync: user ${input.userId} has no ${input.source} row in ${input.specialization} to sync from`,
      ctx,
    );
  }
  const level = from.currentLevel;
  const repair: HistoryStep | undefined =
    license && historyEnd !== undefined && historyEnd !== license.currentLevel
      ? {
          fromLevel: historyEnd,
          toLevel: license.currentLevel,
          reason: `sync from ${input.source}: history repaired`,
          actor: input.actor,
        }
      : undefined;
  const maxAchievedLevel = Math.max(level, license?.maxAchievedLevel ?? level);
  const changed =
    !progress ||
    !license ||
    progress.currentLevel !== license.currentLevel ||
    license.maxAchievedLevel !== maxAchievedLevel ||
    repair !== undefined;
  const outcome = changed ? "applied" : "noop";
  return {
    outcome,
    result: {
      userId: input.userId,
      specialization: input.specialization,
      source: input.source,
      progressLevel: progress?.currentLevel ?? null,
      licenseLevel: license?.currentLevel ?? null,
      level,
      changed,
    },
    change: {
      next: changed
        ? {
            currentLevel: level,
            totalXp: progress?.totalXp ?? 0,
            completedSessions: progress?.completedSessions ?? 0,
            maxAchievedLevel,
            reason: license ? "sync from progress" : "sync: license rebuilt from progress",
            actor: input.actor,
            progressUnchanged: progress?.currentLevel === level,
          }
        : undefined,
      repair,
      audit: {
        operation: "sync",
        xpDelta: 0,
        sessionsDelta: 0,
        fromLevel: (input.source === "progress" ? license?.currentLevel : progress?.currentLevel) ?? null,
        toLevel: level,
        actor: input.actor,
        idempotencyKey: null,
        outcome,
      },
    },
  };
}
