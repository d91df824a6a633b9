import { findHistoryGap } from "@coupler/core";
import { describeOp, pairKey, type OpRecord } from "./history.ts";
import type { DbSnapshot, PairSnapshot } from "./snapshot.ts";

/** The invariants the coupler must keep under any mix of operations and faults. */
export type Invariant =
  /** Both the progress and the license row exist. */
  | "PAIR_PRESENT"
  /** progress.current_level = license.current_level. */
  | "LEVELS_EQUAL"
  /** Levels within 1..max; max_achieved_level within current..max. */
  | "LEVEL_IN_RANGE"
  /** license_progressions is a from→to chain starting at 1 and ending at the current level. */
  | "HISTORY_CONTIGUOUS"
  /** total_xp and completed_sessions equal the sums of the acknowledged level-ups. */
  | "XP_ACKNOWLEDGED"
  /** Every acknowledged level-up is in the audit log and idempotency_keys exactly once. */
  | "EXACTLY_ONCE"
  /** Nothing applied that no client asked for, or that was refused. */
  | "NO_PHANTOM_WRITE"
  /** The total XP an acknowledgement reported is the total right after its audit row. */
  | "ACK_MATCHES_LOG"
  /** Audit XP and session deltas add up to the progress row. */
  | "AUDIT_XP"
  /** Audit rows form a from→to chain ending at the current level. */
  | "AUDIT_CHAIN"
  /** The audit log's level changes are exactly the license's history. */
  | "AUDIT_MATCHES_HISTORY"
  /** No idempotency key has two applied audit rows. */
  | "KEY_APPLIED_TWICE"
  /** validate, called by a client mid-run, found the pair consistent. */
  | "VALIDATE_CONSISTENT"
  /** runIntegrityAudit over the whole database (orphans included) is clean. */
  | "INTEGRITY_AUDIT"
  /** A call failed with an error that no injected fault explains. */
  | "UNEXPECTED_ERROR"
  /** Citus growth or move: a learner's co-located shards are all on one node, and none on the removed one. */
  | "LEARNER_ON_ONE_NODE"
  /** Citus growth: adding, rebalancing, draining and removing a node all finished. */
  | "GROWTH_COMPLETED"
  /** Citus: the mid-run move of a learner's shard group finished. */
  | "MOVE_COMPLETED";

export interface Violation {
  invariant: Invariant;
  userId: number;
  specialization: string;
  detail: string;
  /** The operations involved, as `describeOp` labels. */
  operations: string[];
}

export interface CheckOptions {
  /**
   * After the round (faults stopped, every op resolved): sums must match
   * exactly. Mid-round, only operations acknowledged before the snapshot
   * began (ackSeq <= ackedBefore) are required to be visible.
   */
  final: boolean;
  ackedBefore?: number;
}

/** Checks the coupler's invariants on one snapshot against the operation history. */
export function checkCoupler(snapshot: DbSnapshot, ops: readonly OpRecord[], options: CheckOptions): Violation[] {
  const violations: Violation[] = [];
  const byKey = new Map<string, OpRecord>();
  const opsByPair = new Map<string, OpRecord[]>();
  for (const op of ops) {
    if (op.key) byKey.set(op.key, op);
    const list = opsByPair.get(pairKey(op.userId, op.specialization)) ?? [];
    list.push(op);
    opsByPair.set(pairKey(op.userId, op.specialization), list);
  }
  const visible = (op: OpRecord) =>
    op.status === "ok" && (options.final || (op.ackSeq !== undefined && op.ackSeq <= (options.ackedBefore ?? 0)));

  for (const [id, pair] of snapshot.pairs) {
    const pairOps = opsByPair.get(id) ?? [];
    const report = (invariant: Invariant, detail: string, involved: OpRecord[] = []) =>
      violations.push({
        invariant,
        userId: pair.userId,
        specialization: pair.specialization,
        detail,
        operations: involved.map(describeOp),
      });
    checkPairShape(pair, report);
    checkAudit(pair, report);

    const levelUps = pairOps.filter((op) => op.kind === "levelUp");
    const auditByKey = new Map<string, { row: PairSnapshot["audit"][number]; totalXpAfter: number }>();
    let runningXp = 0;
    for (const row of pair.audit) {
      if (row.outcome === "applied") runningXp += row.xpDelta;
      if (row.idempotencyKey && row.outcome === "applied")
        auditByKey.set(row.idempotencyKey, { row, totalXpAfter: runningXp });
    }
    for (const op of levelUps) {
      const key = op.key ?? "";
      const logged = auditByKey.get(key);
      const stored = snapshot.keys.get(key);
      if (visible(op)) {
        if (!logged) report("EXACTLY_ONCE", `acknowledged level-up ${key} has no applied audit row`, [op]);
        if (!stored) report("EXACTLY_ONCE", `acknowledged level-up ${key} has no idempotency_keys row`, [op]);
        if (logged && op.result?.totalXp !== logged.totalXpAfter) {
          report(
            "ACK_MATCHES_LOG",
            `client saw totalXp ${op.result?.totalXp}, the log puts it at ${logged.totalXpAfter}`,
            [op],
          );
        }
      }
      if (logged && stored && stored.totalXp !== logged.totalXpAfter) {
        report(
          "ACK_MATCHES_LOG",
          `idempotency_keys stored totalXp ${stored.totalXp}, the log puts it at ${logged.totalXpAfter}`,
          [op],
        );
      }
      if (logged && op.status === "failed") report("NO_PHANTOM_WRITE", `refused level-up ${key} was applied`, [op]);
    }
    for (const key of auditByKey.keys()) {
      const op = byKey.get(key);
      if (!op) report("NO_PHANTOM_WRITE", `audit row for idempotency key ${key} that no client sent`);
      else if (op.userId !== pair.userId || op.specialization !== pair.specialization) {
        report("NO_PHANTOM_WRITE", `key ${key} was applied to the wrong pair`, [op]);
      }
    }
    if (options.final && pair.progress) {
      const acked = levelUps.filter(visible);
      const xp = acked.reduce((sum, op) => sum + (op.xp ?? 0), 0);
      const sessions = acked.reduce((sum, op) => sum + (op.sessions ?? 0), 0);
      if (xp !== pair.progress.totalXp || sessions !== pair.progress.sessions) {
        const missing = acked.filter((op) => !auditByKey.has(op.key ?? ""));
        const extra = levelUps.filter((op) => auditByKey.has(op.key ?? "") && !visible(op));
        report(
          "XP_ACKNOWLEDGED",
          `total_xp ${pair.progress.totalXp} / sessions ${pair.progress.sessions}, acknowledged level-ups sum to ${xp} / ${sessions}`,
          [...missing, ...extra],
        );
      }
    }
    for (const op of pairOps) {
      if (op.kind === "validate" && op.result?.consistent === false) {
        report("VALIDATE_CONSISTENT", `validate reported: ${(op.result.issues ?? []).join("; ")}`, [op]);
      }
    }
  }
  for (const { key, count } of snapshot.duplicateAuditKeys) {
    const op = byKey.get(key);
    violations.push({
      invariant: "KEY_APPLIED_TWICE",
      userId: op?.userId ?? -1,
      specialization: op?.specialization ?? "?",
      detail: `idempotency key ${key} has ${count} applied audit rows`,
      operations: op ? [describeOp(op)] : [],
    });
  }
  return violations;
}

type Report = (invariant: Invariant, detail: string, involved?: OpRecord[]) => void;

function checkPairShape(pair: PairSnapshot, report: Report): void {
  const { progress, license } = pair;
  if (!progress || !license) {
    report("PAIR_PRESENT", `progress ${progress ? "present" : "missing"}, license ${license ? "present" : "missing"}`);
  }
  if (progress && license && progress.level !== license.level) {
    report("LEVELS_EQUAL", `progress at level ${progress.level}, license at ${license.level}`);
  }
  for (const [name, level] of [
    ["progress", progress?.level],
    ["license", license?.level],
  ] as const) {
    if (level !== undefined && (level < 1 || level > pair.maxLevel))
      report("LEVEL_IN_RANGE", `${name} level ${level} outside 1..${pair.maxLevel}`);
  }
  if (license && (license.maxAchieved < license.level || license.maxAchieved > pair.maxLevel)) {
    report("LEVEL_IN_RANGE", `max_achieved_level ${license.maxAchieved} outside ${license.level}..${pair.maxLevel}`);
  }
  if (license) {
    const gap = findHistoryGap(pair.history, license.level);
    if (gap) report("HISTORY_CONTIGUOUS", gap);
  }
}

function checkAudit(pair: PairSnapshot, report: Report): void {
  const applied = pair.audit.filter((r) => r.outcome === "applied");
  if (pair.progress) {
    const xp = applied.reduce((sum, r) => sum + r.xpDelta, 0);
    const sessions = applied.reduce((sum, r) => sum + r.sessionsDelta, 0);
    if (xp !== pair.progress.totalXp || sessions !== pair.progress.sessions) {
      report(
        "AUDIT_XP",
        `audit deltas sum to ${xp} XP / ${sessions} sessions, progress holds ${pair.progress.totalXp} / ${pair.progress.sessions}`,
      );
    }
  }
  // Rows of one pair are written under its row locks, so id order is commit order.
  let level: number | undefined;
  const changes: { fromLevel: number; toLevel: number }[] = [];
  for (const row of pair.audit) {
    if (row.operation === "enroll") {
      if (level === undefined && row.toLevel !== null) level = row.toLevel;
      continue;
    }
    if (row.fromLevel !== level) {
      report(
        "AUDIT_CHAIN",
        `audit row ${row.id} (${row.operation}) starts at level ${row.fromLevel}, the previous row ended at ${level}`,
      );
    }
    if (row.outcome === "noop" && row.toLevel !== row.fromLevel) {
      report(
        "AUDIT_CHAIN",
        `audit row ${row.id} (${row.operation}) is a noop that moves ${row.fromLevel}→${row.toLevel}`,
      );
    }
    if (row.outcome === "applied" && row.fromLevel !== null && row.toLevel !== null && row.fromLevel !== row.toLevel) {
      changes.push({ fromLevel: row.fromLevel, toLevel: row.toLevel });
    }
    level = row.toLevel ?? level;
  }
  if (pair.license && level !== pair.license.level) {
    report("AUDIT_CHAIN", `audit log ends at level ${level}, the license is at ${pair.license.level}`);
  }
  const same =
    changes.length === pair.history.length &&
    changes.every((c, i) => c.fromLevel === pair.history[i]?.fromLevel && c.toLevel === pair.history[i]?.toLevel);
  if (!same) {
    report(
      "AUDIT_MATCHES_HISTORY",
      `audit has ${changes.length} level change(s), license_progressions ${pair.history.length}; first difference at step ${firstDifference(changes, pair.history) + 1}`,
    );
  }
}

function firstDifference(
  a: { fromLevel: number; toLevel: number }[],
  b: { fromLevel: number; toLevel: number }[],
): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i]?.fromLevel === b[i]?.fromLevel && a[i]?.toLevel === b[i]?.toLevel) i++;
  return i;
}
