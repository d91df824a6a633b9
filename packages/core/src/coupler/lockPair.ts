import { eq } from "drizzle-orm";
import type { Db } from "../client.ts";
import { NotFoundError } from "../errors/index.ts";
import { users, type SpecializationProgress, type UserLicense } from "../schema.ts";
import type { PairRows, StoredResult } from "./change.ts";
import type { OperationContext, WriteTx } from "./runOperation.ts";
import type { LockMode } from "./statements.ts";

/** A caller's idempotency key: keys are per caller, learner and specialization. */
export interface CallerKey {
  caller: string;
  key: string;
}

/** A pair whose two rows this transaction holds FOR UPDATE, with the stored results of the keys asked for. */
export interface LockedPair extends PairRows {
  /** Stored results by `storedKey(caller, key)`. */
  stored: Map<string, StoredResult>;
}

export interface PairKey {
  userId: number;
  specialization: string;
}

/** The map key of a caller's idempotency key. */
export function storedKey(caller: string, key: string): string {
  return `${caller}\u0000${key}`;
}

/**
 * Locks a pair's two rows in the fixed order (progress, then license) in one
 * round trip, reading the stored results of `keys` in the same statement.
 * Undefined when either half is missing (see `lockPair` for the slow path).
 *
 * Contention is measured by the same statement, not guessed from timings: it
 * reports whether another transaction held the progress row when it started
 * (see `Statements.lockPair`), and the call then counts as contended by a
 * row lock (`OperationEvent.contention`). No extra statement, no restart.
 */
export async function lockPairWithKeys(tx: WriteTx, pair: PairKey, keys: CallerKey[]): Promise<LockedPair | undefined> {
  const rows = await timedLock(tx, (mode) =>
    tx.rt.statements.lockPair(tx.db, tx.client, mode).execute({
      userId: pair.userId,
      specialization: pair.specialization,
      callers: [...new Set(keys.map((k) => k.caller))],
      keys: [...new Set(keys.map((k) => k.key))],
      retentionMs: tx.rt.idempotencyRetentionMs,
    }),
  );
  const [first] = rows;
  if (!first) return undefined;
  if (!first.free) tx.attempt.rowLocked = true;
  const stored = new Map<string, StoredResult>();
  for (const row of rows) {
    const s = row.stored;
    if (s?.caller != null && s.key != null)
      stored.set(storedKey(s.caller, s.key), { requestHash: s.requestHash, response: s.response });
  }
  return { progress: { ...first.progress }, license: { ...first.license }, stored };
}

/**
 * Locks a pair's two rows and requires both: the pair statement, and when it
 * finds no pair, the halves one by one (see `lockHalvesOrNotFound`).
 */
export async function lockPair(tx: WriteTx, pair: PairKey, keys: CallerKey[] = []): Promise<LockedPair> {
  return (await lockPairWithKeys(tx, pair, keys)) ?? lockHalvesOrNotFound(tx, pair, keys);
}

/**
 * After the pair statement found no pair: locks the halves one by one, to say
 * which half is missing (NOT_FOUND), or to lock a pair enrolled between the
 * two statements (then reads the keys again under the locks).
 */
export async function lockHalvesOrNotFound(tx: WriteTx, pair: PairKey, keys: CallerKey[]): Promise<LockedPair> {
  const { ctx } = tx;
  const { progress, license } = await lockHalves(tx, pair);
  if (!progress && !license) return notEnrolled(tx.db, pair, ctx);
  if (!progress || !license) {
    const missing = progress ? "license" : "progress";
    const other = progress ? "progress" : "license";
    throw new NotFoundError(
      missing,
      `${ctx.operation}: user ${pair.userId} in ${pair.specialization} has no ${missing} row; repair it with sync from ${other}`,
      ctx,
    );
  }
  return (
    (await lockPairWithKeys(tx, pair, keys)) ?? {
      progress: { ...progress },
      license: { ...license },
      stored: new Map(),
    }
  );
}

/** Locks whichever halves of a pair exist: progress first, then license. */
export async function lockHalves(
  tx: WriteTx,
  key: PairKey,
): Promise<{ progress: SpecializationProgress | undefined; license: UserLicense | undefined }> {
  const params = { userId: key.userId, specialization: key.specialization };
  const { statements } = tx.rt;
  return timedLock(tx, async (mode) => {
    const [progress] = await statements.lockProgress(tx.db, tx.client, mode).execute(params);
    const [license] = await statements.lockLicense(tx.db, tx.client, mode).execute(params);
    return { progress, license };
  });
}

/** NOT_FOUND for the user, or for the enrollment when the user exists. */
export async function notEnrolled(db: Db, key: PairKey, ctx: OperationContext): Promise<never> {
  await requireUser(db, key.userId, ctx);
  throw new NotFoundError(
    "enrollment",
    `${ctx.operation}: user ${key.userId} is not enrolled in ${key.specialization}`,
    ctx,
  );
}

export async function requireUser(db: Db, userId: number, ctx: OperationContext): Promise<void> {
  const [user] = await db.select({ id: users.id }).from(users).where(eq(users.id, userId));
  if (!user) throw new NotFoundError("user", `${ctx.operation}: user ${userId} does not exist`, ctx);
}

/**
 * Runs `lock` in the call's lock mode (NOWAIT when asked), adding its time to
 * the attempt's lock wait, also when it gives up (a LOCK_TIMEOUT waited too,
 * and counts among the calls that took locks).
 */
async function timedLock<T>(tx: WriteTx, lock: (mode: LockMode) => Promise<T>): Promise<T> {
  const noWait = tx.call.noWait ?? tx.rt.noWait;
  const started = performance.now();
  try {
    return await lock(noWait ? "nowait" : "wait");
  } finally {
    tx.attempt.lockWaitMs = (tx.attempt.lockWaitMs ?? 0) + (performance.now() - started);
  }
}
