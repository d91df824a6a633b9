import type { ChangeSummary } from "./changeSummary.ts";
import type { ChaosResult, ModeReport } from "./chaosResult.ts";

/** The human summary of a chaos run: per mode, operations, faults and what broke. */
export function formatSummary(result: ChaosResult): string {
  const lines = [``, `=== chaos summary (seed ${result.seed}, ${(result.durationMs / 1000).toFixed(1)} s) ===`];
  for (const mode of result.modes) lines.push(...formatMode(mode));
  lines.push(``, `coupler violations: ${result.couplerViolations}`);
  const legacy = result.modes.find((m) => m.mode === "legacy")?.legacy;
  if (legacy) {
    lines.push(
      `legacy: ${legacy.lostUpdates} lost update(s) (${legacy.missingXp} XP acknowledged but missing), ${legacy.desyncedPairs} desynced pair(s) at the end, ` +
        `${legacy.desyncsObservedMidRound} desync(s) seen by snapshots and ${legacy.validatesSawDesync} by validate mid-round, ${legacy.historyGaps} license(s) with history gaps`,
    );
  }
  return lines.join("\n");
}

function formatMode(m: ModeReport): string[] {
  const ops = m.operations;
  const faults = Object.entries(m.faults)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${n}`)
    .join(" ");
  const errors = Object.entries(m.attemptErrors)
    .map(([k, n]) => `${k}=${n}`)
    .join(" ");
  const lines = [
    ``,
    `[${m.mode}] ${ops.total} ops (${ops.ok} ok, ${ops.failed} failed, ${ops.pending} unresolved; ${ops.attempts} attempts) ` +
      `levelUp=${ops.byKind.levelUp} advance=${ops.byKind.advance} sync=${ops.byKind.sync} validate=${ops.byKind.validate}`,
    `  worst latency (retries included): ${m.worstLatencyMs} ms`,
    `  faults injected: ${m.faultsTotal} (${faults || "none"})`,
    `  failed attempts: ${errors || "none"}`,
    `  snapshot checks: ${m.snapshotsChecked}; integrity audit violations: ${m.integrity?.violations ?? "n/a"}`,
  ];
  if (m.combined) {
    lines.push(
      `  combined calls (shared a transaction): ${m.combined.calls}, of which failed: ${m.combined.failed}; largest batch: ${m.combined.largestBatch}`,
    );
  }
  const g = m.growth;
  if (g) {
    lines.push(
      g.error
        ? `  growth FAILED: ${g.error}`
        : `  growth: added ${g.added}, rebalance ${g.rebalanceMoves} move(s) in ${g.rebalanceMs} ms, drained ${g.removed} (${g.drainMoves} shard group(s) in ${g.drainMs} ms) and removed it; ${g.stepFailures.length} step attempt(s) failed and were retried`,
      duringLine("growth", g),
    );
  }
  const mv = m.move;
  if (mv) {
    lines.push(
      mv.error
        ? `  shard move FAILED: ${mv.error}`
        : `  shard move: learner ${mv.userId}'s shard group (shard ${mv.shardId}) from ${mv.from} to ${mv.to} in ${mv.moveMs} ms; ${mv.stepFailures.length} attempt(s) failed and were retried`,
      duringLine("move", mv),
    );
  }
  if (m.routing) {
    const r = m.routing;
    lines.push(
      `  routing: ${r.route}; ${r.mapChanges} worker map change(s) seen, ${r.routeMisses} route miss(es) forwarded; ${r.workerKillsOfDirectConnections} of the worker kills hit the workload's own worker connections`,
    );
  }
  lines.push(`  XP: ${m.xp.acknowledged} acknowledged, ${m.xp.stored} in the learners' rows`);
  if (m.mode === "legacy" && m.legacy) {
    lines.push(
      `  legacy anomalies: lostUpdates=${m.legacy.lostUpdates} missingXp=${m.legacy.missingXp} desyncedPairs=${m.legacy.desyncedPairs} ` +
        `desyncsSeenMidRound=${m.legacy.desyncsObservedMidRound} historyGaps=${m.legacy.historyGaps} validatesSawDesync=${m.legacy.validatesSawDesync} validatesSawHistoryGap=${m.legacy.validatesSawHistoryGap}`,
    );
    for (const e of m.legacy.examples.slice(0, 5)) lines.push(`    e.g. ${e}`);
  } else {
    lines.push(`  violations: ${m.violationCount}`);
    for (const v of m.violations.slice(0, 10)) {
      lines.push(`    ${v.invariant} user ${v.userId} ${v.specialization}: ${v.detail}`);
      for (const op of v.operations.slice(0, 5)) lines.push(`      ${op}`);
    }
  }
  return lines;
}

/** What the clients saw while a cluster change ran. */
function duringLine(what: string, c: ChangeSummary<{ startedAt: number; endedAt: number }>): string {
  const errors = Object.entries(c.attemptErrorsDuring)
    .map(([k, n]) => `${k}=${n}`)
    .join(" ");
  return `  during the ${what} (${c.durationMs} ms): ${c.callsDuring} calls, failed attempts ${errors || "none"}, worst latency ${c.worstLatencyDuringMs} ms; ${c.learnersChecked} learners checked on one node`;
}
