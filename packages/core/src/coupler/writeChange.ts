import type { Change, PairRows } from "./change.ts";
import type { WriteTx } from "./runOperation.ts";
import type { WriteParams } from "./statements.ts";

/**
 * The writes of a batch of calls on one pair, gathered as each call's change
 * is applied to the rows in memory, in arrival order: what a serial run of
 * the same calls would have written, as one statement. The progress and
 * license rows are written once, with their final values; history,
 * idempotency records and audit rows keep a row per call.
 */
export class PendingWrites {
  readonly #params: WriteParams;

  /** `pair` is the rows as locked; `apply` keeps it current. */
  constructor(readonly pair: PairRows) {
    const { progress, license } = pair;
    this.#params = {
      userId: progress.studentId,
      specialization: progress.specializationId,
      progressId: progress.id,
      licenseId: license.id,
      writeProgress: false,
      currentLevel: progress.currentLevel,
      totalXp: progress.totalXp,
      completedSessions: progress.completedSessions,
      writeLicense: false,
      licenseLevel: license.currentLevel,
      maxAchievedLevel: license.maxAchievedLevel,
      historyFrom: [],
      historyTo: [],
      historyReasons: [],
      historyActors: [],
      keys: [],
      keyOperations: [],
      keyCallers: [],
      keyHashes: [],
      keyResponses: [],
      auditOperations: [],
      auditXp: [],
      auditSessions: [],
      auditFrom: [],
      auditTo: [],
      auditActors: [],
      auditKeys: [],
      auditOutcomes: [],
    };
  }

  /** True while no call has anything to write (every call so far failed or replayed). */
  get empty(): boolean {
    return this.#params.auditOperations.length === 0;
  }

  /**
   * Applies one call's change to the rows in memory and records its rows: the
   * progress row when it changes, the license row when its levels move, a
   * history row when its level changes, the idempotency record and the audit row.
   */
  apply(change: Change): void {
    const { progress, license } = this.pair;
    const { next, audit, idempotency } = change;
    const w = this.#params;
    if (next) {
      if (!next.progressUnchanged) {
        w.writeProgress = true;
        progress.currentLevel = next.currentLevel;
        progress.totalXp = next.totalXp;
        progress.completedSessions = next.completedSessions;
      }
      if (license.currentLevel !== next.currentLevel) {
        w.historyFrom.push(license.currentLevel);
        w.historyTo.push(next.currentLevel);
        w.historyReasons.push(next.reason);
        w.historyActors.push(next.actor);
      }
      if (license.currentLevel !== next.currentLevel || license.maxAchievedLevel !== next.maxAchievedLevel) {
        w.writeLicense = true;
        license.currentLevel = next.currentLevel;
        license.maxAchievedLevel = next.maxAchievedLevel;
      }
      w.currentLevel = progress.currentLevel;
      w.totalXp = progress.totalXp;
      w.completedSessions = progress.completedSessions;
      w.licenseLevel = license.currentLevel;
      w.maxAchievedLevel = license.maxAchievedLevel;
    }
    if (idempotency) {
      w.keys.push(idempotency.key);
      w.keyOperations.push(idempotency.operation);
      w.keyCallers.push(idempotency.caller);
      w.keyHashes.push(idempotency.requestHash);
      w.keyResponses.push(JSON.stringify(idempotency.response));
    }
    w.auditOperations.push(audit.operation);
    w.auditXp.push(audit.xpDelta);
    w.auditSessions.push(audit.sessionsDelta);
    w.auditFrom.push(audit.fromLevel);
    w.auditTo.push(audit.toLevel);
    w.auditActors.push(audit.actor);
    w.auditKeys.push(audit.idempotencyKey);
    w.auditOutcomes.push(audit.outcome);
  }

  /** Sends the one write statement (after the mid-transaction fault hook); nothing when there is nothing to write. */
  async write(tx: WriteTx): Promise<void> {
    if (this.empty) return;
    await tx.rt.faults?.midTransaction?.(tx.client);
    await tx.rt.statements.write(tx.client, this.#params);
  }
}
