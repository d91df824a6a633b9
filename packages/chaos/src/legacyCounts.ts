import { findHistoryGap } from "@coupler/core";
import { describeOp, pairKey, type OpRecord } from "./history.ts";
import type { DbSnapshot } from "./snapshot.ts";

export interface LegacyCounts {
  pairs: number;
  /** Pairs whose progress and license levels differ. */
  desyncedPairs: number;
  /** Pairs with only one half. */
  missingHalves: number;
  /** Licenses whose history chain is broken or does not end at the current level. */
  historyGaps: number;
  ackedLevelUps: number;
  /**
   * Acknowledged level-ups whose write was overwritten: two acknowledged
   * calls started from the same total XP, so one of them is gone.
   */
  lostUpdates: number;
  /** XP acknowledged to clients but missing from total_xp (a lower bound: failed calls may have added some). */
  missingXp: number;
  examples: string[];
}

/** Counts what the legacy two-transaction path broke, from one snapshot and the operation history. */
export function countLegacyAnomalies(snapshot: DbSnapshot, ops: readonly OpRecord[], maxExamples = 10): LegacyCounts {
  const counts: LegacyCounts = {
    pairs: snapshot.pairs.size,
    desyncedPairs: 0,
    missingHalves: 0,
    historyGaps: 0,
    ackedLevelUps: 0,
    lostUpdates: 0,
    missingXp: 0,
    examples: [],
  };
  const example = (line: string) => void (counts.examples.length < maxExamples && counts.examples.push(line));
  for (const [id, pair] of snapshot.pairs) {
    const where = `user ${pair.userId} ${pair.specialization}`;
    if (!pair.progress || !pair.license) {
      counts.missingHalves++;
      example(`${where}: a half is missing`);
      continue;
    }
    if (pair.progress.level !== pair.license.level) {
      counts.desyncedPairs++;
      example(`${where}: desync, progress at level ${pair.progress.level}, license at ${pair.license.level}`);
    }
    const gap = findHistoryGap(pair.history, pair.license.level);
    if (gap) {
      counts.historyGaps++;
      example(`${where}: history gap, ${gap}`);
    }
    const acked = ops.filter(
      (op) => op.kind === "levelUp" && op.status === "ok" && pairKey(op.userId, op.specialization) === id,
    );
    counts.ackedLevelUps += acked.length;
    // With positive XP every serial history starts each level-up from a different total.
    const byStart = new Map<number, OpRecord[]>();
    for (const op of acked) {
      const start = (op.result?.totalXp ?? 0) - (op.xp ?? 0);
      byStart.set(start, [...(byStart.get(start) ?? []), op]);
    }
    for (const [start, same] of byStart) {
      if (same.length < 2) continue;
      counts.lostUpdates += same.length - 1;
      example(
        `${where}: lost update, ${same.length} acknowledged level-ups all started from ${start} XP: ${same.map(describeOp).join(" | ")}`,
      );
    }
    const ackedXp = acked.reduce((sum, op) => sum + (op.xp ?? 0), 0);
    counts.missingXp += Math.max(0, ackedXp - pair.progress.totalXp);
  }
  return counts;
}
