import { and, eq, sql } from "drizzle-orm";
import { NotFoundError } from "../../errors/index.ts";
import type { SyncInput } from "../../inputs.ts";
import { couplerAuditLog, licenseProgressions, specializationProgress, userLicenses } from "../../schema.ts";
import { lockHalves, requireUser } from "../lockPair.ts";
import type { PairRows, Planned } from "../change.ts";
import type { OperationContext, WriteTx } from "../runOperation.ts";
import type { SyncResult } from "../types.ts";

export type SyncStep = SyncInput & { actor: string };

/**
 * Repairs a desynced pair whose two rows exist, over the rows in memory:
 * `progress` copies the progress level onto the license (a history row when
 * it moves), `license` the license level onto the progress. A pair in step is
 * a no-op. Pure; the rows' other values are kept.
 */
export function syncPair(_ctx: OperationContext, pair: PairRows, input: SyncStep): Planned<SyncResult> {
  const { progress, license } = pair;
  const level = input.source === "progress" ? progress.currentLevel : license.currentLevel;
  const changed = progress.currentLevel !== license.currentLevel;
  const outcome = changed ? "applied" : "noop";
  const licenseMoves = license.currentLevel !== level;
  return {
    outcome,
    result: {
      userId: input.userId,
      specialization: input.specialization,
      source: input.source,
      progressLevel: progress.currentLevel,
      licenseLevel: license.currentLevel,
      level,
      changed,
    },
    change: {
      next: changed
        ? {
            currentLevel: level,
            totalXp: progress.totalXp,
            completedSessions: progress.completedSessions,
            maxAchievedLevel: licenseMoves ? Math.max(level, license.maxAchievedLevel) : license.maxAchievedLevel,
            reason: "sync from progress",
            actor: input.actor,
            progressUnchanged: progress.currentLevel === level,
          }
        : undefined,
      audit: {
        operation: "sync",
        xpDelta: 0,
        sessionsDelta: 0,
        fromLevel: input.source === "progress" ? license.currentLevel : progress.currentLevel,
        toLevel: level,
        actor: input.actor,
        idempotencyKey: null,
        outcome,
      },
    },
  };
}

/**
 * Repairs a pair with a missing half (the path when the pair statement finds
 * no pair), or any pair, from the named side: `progress` copies the progress
 * level onto the license, `license` the license level onto the progress. A
 * missing half is recreated from the other. A pair in step is left alone.
 * It takes the halves itself, since either may be missing.
 */
export async function sync(tx: WriteTx, input: SyncStep): Promise<Planned<SyncResult>> {
  const { db, ctx } = tx;
  const { progress, license } = await lockHalves(tx, input);
  const from = input.source === "progress" ? progress : license;
  if (!from) {
    await requireUser(db, input.userId, ctx);
    throw new NotFoundError(
      input.source,
      `sync: user ${input.userId} has no ${input.source} row in ${input.specialization} to sync from`,
      ctx,
    );
  }
  const level = from.currentLevel;
  let changed = false;
  if (!progress) {
    await db
      .insert(specializationProgress)
      .values({ studentId: input.userId, specializationId: input.specialization, currentLevel: level });
    changed = true;
  } else if (progress.currentLevel !== level) {
    await db
      .update(specializationProgress)
      .set({ currentLevel: level, updatedAt: sql`now()` })
      .where(and(eq(specializationProgress.studentId, input.userId), eq(specializationProgress.id, progress.id)));
    changed = true;
  }
  if (!license) {
    const [rebuilt] = await db
      .insert(userLicenses)
      .values({
        userId: input.userId,
        specializationType: input.specialization,
        currentLevel: level,
        maxAchievedLevel: level,
      })
      .returning({ id: userLicenses.id });
    // A license's history starts at level 1; record the jump so the chain ends at its level.
    if (rebuilt && level !== 1) {
      await db.insert(licenseProgressions).values({
        userId: input.userId,
        userLicenseId: rebuilt.id,
        fromLevel: 1,
        toLevel: level,
        reason: "sync: license rebuilt from progress",
        actor: input.actor,
      });
    }
    changed = true;
  } else if (license.currentLevel !== level) {
    await tx.rt.faults?.midTransaction?.(tx.client);
    await db
      .update(userLicenses)
      .set({ currentLevel: level, maxAchievedLevel: Math.max(level, license.maxAchievedLevel), updatedAt: sql`now()` })
      .where(and(eq(userLicenses.userId, input.userId), eq(userLicenses.id, license.id)));
    await db.insert(licenseProgressions).values({
      userId: input.userId,
      userLicenseId: license.id,
      fromLevel: license.currentLevel,
      toLevel: level,
      reason: "sync from progress",
      actor: input.actor,
    });
    changed = true;
  }
  const outcome = changed ? "applied" : "noop";
  await db.insert(couplerAuditLog).values({
    operation: "sync",
    userId: input.userId,
    specializationId: input.specialization,
    fromLevel: input.source === "progress" ? (license?.currentLevel ?? null) : (progress?.currentLevel ?? null),
    toLevel: level,
    actor: input.actor,
    outcome,
  });
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
  };
}
