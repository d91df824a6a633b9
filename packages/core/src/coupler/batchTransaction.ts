import { isCouplerError, type CouplerError } from "../errors/index.ts";
import type { OperationOutcome } from "../observer.ts";
import type { LockedPair, LockedRows, Planned } from "./change.ts";
import type { OperationContext } from "./CouplerRuntime.ts";
import { advance, type AdvanceStep } from "./operations/advance.ts";
import { levelUp, type LevelUpStep } from "./operations/levelUp.ts";
import { sync, type SyncStep } from "./operations/sync.ts";
import type { PairTransaction } from "./PairTransaction.ts";
import { PendingWrites } from "./PendingWrites.ts";
import { storedKey, type ActorKey } from "./storedKey.ts";

/** A write on a pair that may share a transaction with others on the same pair. */
export type PairWrite =
  | { operation: "levelUp"; input: LevelUpStep }
  | { operation: "advance"; input: AdvanceStep }
  | { operation: "sync"; input: SyncStep };

/** One call of a batch, as its transaction sees it. */
export interface BatchCall {
  write: PairWrite;
  ctx: OperationContext;
}

/** How one call ended: its outcome and result, or its own error. */
export type Settled =
  { ok: true; outcome: Exclude<OperationOutcome, "error">; result: unknown } | { ok: false; error: CouplerError };

/** Every call of a batch failed on its own: the transaction rolls back, each caller gets its error. */
export class AllFailed extends Error {
  constructor(readonly settled: Settled[]) {
    super("every call of the batch failed");
  }
}

/** The pair has a missing half: a batch of several runs its calls one by one (each alone says why, or repairs it). */
export class IncompletePair extends Error {}

/**
 * The transaction of a batch of calls on one pair (one call, or several that
 * write combining gathered), in arrival order: lock the pair (reading every
 * idempotency key of the batch, and where the history chain ends when a sync
 * is among them), plan each call over the rows in memory with its pure
 * operation, and write what they changed in one statement. A call's own
 * CouplerError is its result; anything else fails the transaction. A lone
 * call on a pair with a missing half is told why (NOT_FOUND), or, a sync,
 * repairs it; a batch of several throws `IncompletePair`.
 */
export async function batchTransaction(tx: PairTransaction, batch: BatchCall[]): Promise<Settled[]> {
  const [first] = batch;
  if (!first) return [];
  const { userId, specialization } = first.write.input;
  const key = { userId, specialization };
  const rows = await tx.lock(key, keysOf(batch), { historyEnd: batch.some((c) => c.write.operation === "sync") });
  // A chain that seems not to end at the license's level: make sure before a sync repairs it (one more round trip).
  if (rows.license && rows.historyEnd !== undefined && rows.historyEnd !== rows.license.currentLevel)
    rows.historyEnd = await tx.historyEndNow(key, rows.license.id);
  if (!rows.progress || !rows.license) {
    if (batch.length > 1) throw new IncompletePair();
    if (first.write.operation !== "sync") await tx.requirePair(key, rows);
    else if (!rows[first.write.input.source]) await tx.requireUser(userId);
  }
  const writes = new PendingWrites(key, rows);
  const settled: Settled[] = [];
  for (const call of batch) {
    try {
      const planned = plan(call, rows);
      if (planned.change) writes.apply(planned.change);
      const stored = planned.change?.idempotency;
      if (stored)
        rows.stored.set(storedKey(stored.actor, stored.key), {
          requestHash: stored.requestHash,
          response: stored.response,
        });
      settled.push({ ok: true, outcome: planned.outcome, result: planned.result });
    } catch (error) {
      if (!isCouplerError(error)) throw error;
      settled.push({ ok: false, error });
    }
  }
  if (settled.every((s) => !s.ok)) throw new AllFailed(settled);
  await tx.write(writes);
  return settled;
}

/** One call planned over the pair's rows in memory, by its pure operation (only sync accepts a missing half). */
function plan(call: BatchCall, rows: LockedRows): Planned<unknown> {
  const { write, ctx } = call;
  if (write.operation === "sync") return sync(ctx, rows, write.input);
  const { progress, license } = rows;
  // Unreachable: `batchTransaction` has already refused anything but a lone sync on a missing half.
  if (!progress || !license) throw new IncompletePair();
  const pair: LockedPair = { ...rows, progress, license };
  if (write.operation === "advance") return advance(ctx, pair, write.input);
  const key = write.input.idempotencyKey;
  return levelUp(ctx, pair, key ? pair.stored.get(storedKey(write.input.actor, key)) : undefined, write.input);
}

/** The distinct (actor, key) pairs of the batch's keyed calls. */
function keysOf(batch: BatchCall[]): ActorKey[] {
  const seen = new Map<string, ActorKey>();
  for (const { write } of batch) {
    if (write.operation !== "levelUp" || !write.input.idempotencyKey) continue;
    const key = { actor: write.input.actor, key: write.input.idempotencyKey };
    seen.set(storedKey(key.actor, key.key), key);
  }
  return [...seen.values()];
}
