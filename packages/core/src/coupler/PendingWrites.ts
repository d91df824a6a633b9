import type { SpecializationProgress, UserLicense } from "../schema.ts";
import type { Change, HistoryStep, LockedRows, PairKey } from "./change.ts";
import type { WriteParams } from "./writeStatement.ts";

/**
 * The writes of a transaction's calls on one pair, gathered as each call's
 * change is applied to the rows in memory, in arrival order: what a serial
 * run of the same calls would have written, as the parameters of one write
 * statement (`PairTransaction.write` sends it). The progress and license
 * rows are written once, with their final values; history, idempotency
 * records and audit rows keep a row per call. A half missing from the locked
 * rows (sync rebuilds it) is created, starting from level 1.
 */
export class PendingWrites {
  readonly params: WriteParams;
  readonly #progress: Pick<SpecializationProgress, "currentLevel" | "totalXp" | "completedSessions">;
  readonly #license: Pick<UserLicense, "currentLevel" | "maxAchievedLevel">;
  readonly #rows: LockedRows;
  /** The progress row's level as locked: a write that leaves it there need not set it (see `progressLevelChanged`). */
  readonly #lockedLevel: number | undefined;

  /** `rows` is the pair as locked (a half may be missing); `apply` keeps it current. */
  constructor(pair: PairKey, rows: LockedRows) {
    this.#rows = rows;
    this.#lockedLevel = rows.progress?.currentLevel;
    // A missing half is written from scratch: as a new row starts, at level 1 with nothing earned.
    this.#progress = rows.progress ?? { currentLevel: 1, totalXp: 0, completedSessions: 0 };
    this.#license = rows.license ?? { currentLevel: 1, maxAchievedLevel: 1 };
    this.params = {
      userId: pair.userId,
      specialization: pair.specialization,
      progressId: rows.progress?.id ?? 0,
      licenseId: rows.license?.id ?? 0,
      progressWrite: "none",
      progressLevelChanged: false,
      currentLevel: this.#progress.currentLevel,
      totalXp: this.#progress.totalXp,
      completedSessions: this.#progress.completedSessions,
      licenseWrite: "none",
      licenseLevel: this.#license.currentLevel,
      maxAchievedLevel: this.#license.maxAchievedLevel,
      historyFrom: [],
      historyTo: [],
      historyReasons: [],
      historyActors: [],
      keys: [],
      keyOperations: [],
      keyActors: [],
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
    return this.params.auditOperations.length === 0;
  }

  /**
   * Applies one call's change to the rows in memory and records its rows: the
   * progress row when it changes, the license row when its levels move, the
   * history repair and a history row when its level changes, the idempotency
   * record and the audit row.
   */
  apply(change: Change): void {
    const progress = this.#progress;
    const license = this.#license;
    const { next, repair, audit, idempotency } = change;
    const w = this.params;
    if (repair) this.#history(repair);
    if (next) {
      if (!next.progressUnchanged || !this.#rows.progress) {
        w.progressWrite = this.#rows.progress ? "update" : "insert";
        progress.currentLevel = next.currentLevel;
        progress.totalXp = next.totalXp;
        progress.completedSessions = next.completedSessions;
      }
      if (license.currentLevel !== next.currentLevel) {
        this.#history({
          fromLevel: license.currentLevel,
          toLevel: next.currentLevel,
          reason: next.reason,
          actor: next.actor,
        });
      }
      if (
        !this.#rows.license ||
        license.currentLevel !== next.currentLevel ||
        license.maxAchievedLevel !== next.maxAchievedLevel
      ) {
        w.licenseWrite = this.#rows.license ? "update" : "insert";
        license.currentLevel = next.currentLevel;
        license.maxAchievedLevel = next.maxAchievedLevel;
      }
      w.progressLevelChanged = progress.currentLevel !== this.#lockedLevel;
      w.currentLevel = progress.currentLevel;
      w.totalXp = progress.totalXp;
      w.completedSessions = progress.completedSessions;
      w.licenseLevel = license.currentLevel;
      w.maxAchievedLevel = license.maxAchievedLevel;
    }
    if (idempotency) {
      w.keys.push(idempotency.key);
      w.keyOperations.push(idempotency.operation);
      w.keyActors.push(idempotency.actor);
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

  #history(step: HistoryStep): void {
    const w = this.params;
    w.historyFrom.push(step.fromLevel);
    w.historyTo.push(step.toLevel);
    w.historyReasons.push(step.reason);
    w.historyActors.push(step.actor);
    if (this.#rows.historyEnd !== undefined) this.#rows.historyEnd = step.toLevel;
  }
}
