/**
 * The LEGACY write path: progress and license updated in two separate
 * transactions, without row locks, as the seed did before the coupler.
 *
 * Kept only as a baseline for benchmarks and fault experiments. It loses
 * updates under concurrency and leaves desyncs when the second transaction
 * fails; never serve it to real traffic.
 */
import { and, eq, sql } from "drizzle-orm";
import type pg from "pg";
import type { Catalogue } from "./catalogue.ts";
import { NotFoundError } from "./errors/index.ts";
import { licenseProgressions, specializationProgress, userLicenses } from "./schema.ts";
import { levelForXp } from "./specializations.ts";
import { runTransaction, type TransactionOptions } from "./transaction.ts";

const TX: TransactionOptions = { isolationLevel: "read committed", accessMode: "read write" };

export interface LegacyHooks {
  /** Between the progress transaction and the license transaction. */
  betweenTransactions?(): Promise<void>;
}

export interface LegacyLevelUpResult {
  previousLevel: number;
  newLevel: number;
  totalXp: number;
}

/** Legacy level-up: read-modify-write of progress, commit, then the license in a second transaction. */
export async function legacyLevelUp(
  pool: pg.Pool,
  catalogue: Catalogue,
  userId: number,
  specialization: string,
  xpGained: number,
  sessionsCompleted: number,
  hooks: LegacyHooks = {},
): Promise<LegacyLevelUpResult> {
  const rules = await catalogue.get(specialization);
  if (!rules) throw new NotFoundError("specialization", `legacyLevelUp: unknown specialization ${specialization}`);
  const progress = await runTransaction(pool, TX, async (tx) => {
    const [row] = await tx
      .select()
      .from(specializationProgress)
      .where(
        and(eq(specializationProgress.studentId, userId), eq(specializationProgress.specializationId, specialization)),
      );
    if (!row) throw new NotFoundError("progress", `legacyLevelUp: no progress for user ${userId} in ${specialization}`);
    const totalXp = row.totalXp + xpGained;
    const newLevel = levelForXp(rules, totalXp, row.currentLevel);
    await tx
      .update(specializationProgress)
      .set({
        totalXp,
        completedSessions: row.completedSessions + sessionsCompleted,
        currentLevel: newLevel,
        updatedAt: sql`now()`,
      })
      .where(and(eq(specializationProgress.studentId, userId), eq(specializationProgress.id, row.id)));
    return { previousLevel: row.currentLevel, newLevel, totalXp };
  });
  await hooks.betweenTransactions?.();
  await legacyCopyLevelToLicense(pool, userId, specialization, progress.newLevel, "level-up");
  return progress;
}

/** Legacy sync: read the progress level, then write it to the license in a separate transaction. */
export async function legacySync(pool: pg.Pool, userId: number, specialization: string): Promise<{ level: number }> {
  const level = await runTransaction(pool, TX, async (tx) => {
    const [row] = await tx
      .select({ currentLevel: specializationProgress.currentLevel })
      .from(specializationProgress)
      .where(
        and(eq(specializationProgress.studentId, userId), eq(specializationProgress.specializationId, specialization)),
      );
    if (!row) throw new NotFoundError("progress", `legacySync: no progress for user ${userId} in ${specialization}`);
    return row.currentLevel;
  });
  await legacyCopyLevelToLicense(pool, userId, specialization, level, "sync from progress");
  return { level };
}

async function legacyCopyLevelToLicense(
  pool: pg.Pool,
  userId: number,
  specialization: string,
  level: number,
  reason: string,
) {
  await runTransaction(pool, TX, async (tx) => {
    const [license] = await tx
      .select()
      .from(userLicenses)
      .where(and(eq(userLicenses.userId, userId), eq(userLicenses.specializationType, specialization)));
    if (!license) throw new NotFoundError("license", `legacy: no license for user ${userId} in ${specialization}`);
    if (license.currentLevel === level) return;
    await tx
      .update(userLicenses)
      .set({ currentLevel: level, maxAchievedLevel: Math.max(level, license.maxAchievedLevel), updatedAt: sql`now()` })
      .where(and(eq(userLicenses.userId, userId), eq(userLicenses.id, license.id)));
    await tx.insert(licenseProgressions).values({
      userId,
      userLicenseId: license.id,
      fromLevel: license.currentLevel,
      toLevel: level,
      reason: `legacy ${reason}`,
      actor: "legacy",
    });
  });
}
