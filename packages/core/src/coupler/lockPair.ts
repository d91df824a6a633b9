import { eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { NotFoundError, SqlState, sqlStateOf } from "../errors/index.ts";
import { users, type SpecializationProgress, type UserLicense } from "../schema.ts";
import { LocksHeld, type OperationContext, type WriteTx } from "./runOperation.ts";
import type { LockMode } from "./statements.ts";

/** A pair whose two rows this transaction holds FOR UPDATE. */
export interface LockedPair {
  progress: SpecializationProgress;
  license: UserLicense;
  /** The stored result of the call's idempotency key, when it was used before. */
  stored: { requestHash: string; response: unknown } | undefined;
}

export interface PairKey {
  userId: number;
  specialization: string;
  idempotencyKey?: string | undefined;
  /** The caller, whose idempotency keys are its own. */
  actor: string;
}

/**
 * Locks a pair's two rows in the fixed order (progress, then license) and
 * requires both. One round trip when both exist; a pair with a missing half
 * falls back to locking the halves one by one, to say which half is missing.
 *
 * Contention is measured, not guessed from timings: the first attempt asks
 * with NOWAIT. If the rows are held, the transaction restarts and waits
 * (bounded by lock_timeout), and the call counts as contended. Uncontended
 * calls pay nothing for this.
 */
export async function lockPair(tx: WriteTx, key: PairKey): Promise<LockedPair> {
  const { ctx } = tx;
  const [row] = await withLockProbe(tx, (mode) =>
    tx.rt.statements
      .lockPair(tx.db, tx.client, mode)
      .execute({
        userId: key.userId,
        specialization: key.specialization,
        caller: key.actor,
        // No key: "", which no stored key equals (keys are never empty). Not NULL: `key = NULL`
        // is constant false, which Citus prunes to no shard, and then refuses the FOR UPDATE.
        key: key.idempotencyKey ?? "",
        retentionMs: tx.rt.idempotencyRetentionMs,
      }),
  );
  if (row) return { progress: row.progress, license: row.license, stored: row.stored ?? undefined };
  const { progress, license } = await lockHalves(tx, key);
  if (!progress && !license) return notEnrolled(tx.db, key, ctx);
  if (!progress || !license) {
    const missing = progress ? "license" : "progress";
    const other = progress ? "progress" : "license";
    throw new NotFoundError(
      missing,
      `${ctx.operation}: user ${key.userId} in ${key.specialization} has no ${missing} row; repair it with sync from ${other}`,
      ctx,
    );
  }
  // Enrolled between the two statements: the halves are locked now, in order.
  return { progress, license, stored: undefined };
}

/** Locks whichever halves of a pair exist: progress first, then license. */
export async function lockHalves(
  tx: WriteTx,
  key: Pick<PairKey, "userId" | "specialization">,
): Promise<{ progress: SpecializationProgress | undefined; license: UserLicense | undefined }> {
  const params = { userId: key.userId, specialization: key.specialization };
  const { statements } = tx.rt;
  return withLockProbe(tx, async (mode) => {
    const [progress] = await statements.lockProgress(tx.db, tx.client, mode).execute(params);
    const [license] = await statements.lockLicense(tx.db, tx.client, mode).execute(params);
    return { progress, license };
  });
}

/** NOT_FOUND for the user, or for the enrollment when the user exists. */
export async function notEnrolled(db: Db, key: Pick<PairKey, "userId" | "specialization">, ctx: OperationContext): Promise<never> {
  await requireUser(db, key.userId, ctx);
  throw new NotFoundError("enrollment", `${ctx.operation}: user ${key.userId} is not enrolled in ${key.specialization}`, ctx);
}

export async function requireUser(db: Db, userId: number, ctx: OperationContext): Promise<void> {
  const [user] = await db.select({ id: users.id }).from(users).where(eq(users.id, userId));
  if (!user) throw new NotFoundError("user", `${ctx.operation}: user ${userId} does not exist`, ctx);
}

/** Runs `lock` in the call's lock mode, timing it; a held row under the probe restarts the transaction. */
async function withLockProbe<T>(tx: WriteTx, lock: (mode: LockMode) => Promise<T>): Promise<T> {
  const noWait = tx.call.noWait ?? tx.rt.noWait;
  const probing = !noWait && tx.attempt.probe;
  const started = performance.now();
  try {
    const rows = await lock(noWait || probing ? "nowait" : "wait");
    tx.attempt.lockWaitMs = (tx.attempt.lockWaitMs ?? 0) + (performance.now() - started);
    return rows;
  } catch (error) {
    if (probing && sqlStateOf(error) === SqlState.lockNotAvailable) throw new LocksHeld();
    throw error;
  }
}
