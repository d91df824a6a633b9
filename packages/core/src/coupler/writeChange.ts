import type { couplerAuditLog, idempotencyKeys } from "../schema.ts";
import type { LockedPair } from "./lockPair.ts";
import type { WriteTx } from "./runOperation.ts";

export interface NextState {
  currentLevel: number;
  totalXp: number;
  completedSessions: number;
  maxAchievedLevel: number;
  reason: string;
  actor: string;
}

export interface Change {
  /** The pair's new state; undefined writes only the audit row (a no-op call). */
  next: NextState | undefined;
  audit: typeof couplerAuditLog.$inferInsert;
  idempotency?: typeof idempotencyKeys.$inferInsert | undefined;
}

/**
 * Writes a change of a locked pair in one statement: the progress row, the
 * license row when its levels move, a history row when the level changes,
 * the idempotency record and the audit row.
 */
export async function writeChange(tx: WriteTx, pair: LockedPair, change: Change): Promise<void> {
  const { progress, license } = pair;
  const { next, audit, idempotency } = change;
  const levelChanged = next !== undefined && license.currentLevel !== next.currentLevel;
  const shape = {
    progress: next !== undefined,
    license: next !== undefined && (levelChanged || license.maxAchievedLevel !== next.maxAchievedLevel),
    history: levelChanged,
    idempotency: idempotency !== undefined,
  };
  await tx.rt.faults?.midTransaction?.(tx.client);
  await tx.rt.statements.write(tx.db, tx.client, shape).execute({
    progressId: progress.id,
    licenseId: license.id,
    currentLevel: next?.currentLevel ?? null,
    totalXp: next?.totalXp ?? null,
    completedSessions: next?.completedSessions ?? null,
    maxAchievedLevel: next?.maxAchievedLevel ?? null,
    fromLevel: license.currentLevel,
    reason: next?.reason ?? null,
    historyActor: next?.actor ?? null,
    key: idempotency?.key ?? null,
    keyOperation: idempotency?.operation ?? null,
    caller: idempotency?.caller ?? null,
    requestHash: idempotency?.requestHash ?? null,
    response: idempotency?.response ?? null,
    operation: audit.operation,
    userId: audit.userId,
    specializationId: audit.specializationId,
    xpDelta: audit.xpDelta ?? 0,
    sessionsDelta: audit.sessionsDelta ?? 0,
    auditFrom: audit.fromLevel ?? null,
    auditTo: audit.toLevel ?? null,
    actor: audit.actor,
    auditKey: audit.idempotencyKey ?? null,
    outcome: audit.outcome,
  });
}
