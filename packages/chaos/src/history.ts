import type { inputs } from "@coupler/core";

export type OpKind = "levelUp" | "advance" | "sync" | "validate";

/**
 * `ok`: answered. `failed`: refused for good, and no attempt's outcome was
 * unknown, so it had no effect. `pending`: still unknown (to be resolved by
 * retrying the same idempotency key once the faults stop).
 */
export type OpStatus = "ok" | "failed" | "pending";

/** One client operation and what happened to each of its attempts (a Jepsen-style history entry). */
export interface OpRecord {
  id: number;
  round: number;
  client: number;
  kind: OpKind;
  userId: number;
  specialization: string;
  key?: string;
  xp?: number;
  sessions?: number;
  newLevel?: number;
  source?: inputs.SyncSource;
  status: OpStatus;
  attempts: number;
  /** Error code of every failed attempt, in order ("ABORTED" = the client gave up waiting). */
  errors: string[];
  /** Attempts whose outcome the client could not know (dropped connection, timeout, abort). */
  indeterminate: number;
  result?: OpResult;
  /** When the first attempt started (performance.now(), ms). */
  startedAt?: number;
  /** From the first attempt to the answer, retries and their backoff included (ms): what the client waited. */
  latencyMs?: number;
  /** Position in the order of acknowledgements (set when the op answered). */
  ackSeq?: number;
}

export interface OpResult {
  totalXp?: number;
  newLevel?: number;
  replayed?: boolean;
  consistent?: boolean;
  issues?: string[];
}

/** Every operation of a run, in issue order, with the order of acknowledgements. */
export class History {
  readonly ops: OpRecord[] = [];
  #acks = 0;

  add(op: Omit<OpRecord, "id" | "status" | "attempts" | "errors" | "indeterminate">): OpRecord {
    const record: OpRecord = {
      ...op,
      id: this.ops.length + 1,
      status: "pending",
      attempts: 0,
      errors: [],
      indeterminate: 0,
    };
    this.ops.push(record);
    return record;
  }

  ack(op: OpRecord, result: OpResult): void {
    op.status = "ok";
    op.result = result;
    op.ackSeq = ++this.#acks;
  }

  /** How many operations had been acknowledged so far; a snapshot taken after this must contain all of them. */
  get ackCount(): number {
    return this.#acks;
  }

  pending(): OpRecord[] {
    return this.ops.filter((op) => op.status === "pending");
  }
}

export function pairKey(userId: number, specialization: string): string {
  return `${userId}/${specialization}`;
}

/** A short label of an operation for violation reports. */
export function describeOp(op: OpRecord): string {
  const what =
    op.kind === "levelUp"
      ? `levelUp +${op.xp ?? 0}xp key=${op.key ?? "-"}`
      : op.kind === "advance"
        ? `advance to ${op.newLevel ?? "?"}`
        : op.kind === "sync"
          ? `sync from ${op.source ?? "?"}`
          : "validate";
  const errors = op.errors.length > 0 ? ` errors=[${op.errors.join(",")}]` : "";
  return `#${op.id} r${op.round} c${op.client} ${what} → ${op.status} after ${op.attempts} attempt(s)${errors}`;
}
