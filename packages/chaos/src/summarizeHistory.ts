import type { Violation } from "./checker.ts";
import type { History, OpKind } from "./history.ts";
import type { ModeReport } from "./chaosResult.ts";

/** What a round's history says beyond the checker's invariants: errors by code, and the unexpected ones. */

const EXPECTED_CODES = new Set(["ABORTED", "INJECTED", "UNAVAILABLE", "LOCK_TIMEOUT", "DEADLOCK", "CONFLICT"]);

/** Failures no injected fault explains (e.g. a guard or constraint violation) are violations too. */
export function unexpectedErrors(history: History): Violation[] {
  return history.ops.flatMap((op) => {
    const odd = op.errors.filter((code) => !EXPECTED_CODES.has(code));
    if (odd.length === 0) return [];
    return [
      {
        invariant: "UNEXPECTED_ERROR" as const,
        userId: op.userId,
        specialization: op.specialization,
        detail: `error code(s) ${odd.join(", ")}`,
        operations: [`#${op.id} ${op.kind}`],
      },
    ];
  });
}

export function validatesSaw(history: History, code: string): number {
  return history.ops.filter((op) => op.kind === "validate" && op.result?.issues?.some((i) => i.startsWith(`${code}:`)))
    .length;
}

export function summarizeOps(history: History): ModeReport["operations"] {
  const byKind: Record<OpKind, number> = { levelUp: 0, advance: 0, sync: 0, validate: 0 };
  const summary = { total: history.ops.length, ok: 0, failed: 0, pending: 0, attempts: 0, byKind };
  for (const op of history.ops) {
    summary[op.status]++;
    summary.attempts += op.attempts;
    byKind[op.kind]++;
  }
  return summary;
}

export function countErrors(history: History): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const op of history.ops) for (const code of op.errors) counts[code] = (counts[code] ?? 0) + 1;
  return counts;
}
