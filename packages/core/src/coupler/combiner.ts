/**
 * Over 400 lines on purpose, for now: `WriteCombiner` is one class whose
 * private methods (queueing, taking a batch, running it, retrying it,
 * settling each call) share the per-pair lanes, and splitting the class
 * would expose that state. The pure parts are elsewhere: the operations
 * (operations/), the in-memory change (change.ts, writeChange.ts), the
 * statements (statements.ts), retries (runOperation.ts).
 */
import {
  LockTimeoutError,
  OverloadedError,
  SqlState,
  isCouplerError,
  sqlStateOf,
  toCouplerError,
  type CouplerError,
} from "../errors/index.ts";
import type { OperationOutcome } from "../observer.ts";
import { runTransaction } from "../transaction.ts";
import type { Planned } from "./change.ts";
import { lockHalvesOrNotFound, lockPairWithKeys, storedKey, type CallerKey, type LockedPair } from "./lockPair.ts";
import { advance, type AdvanceStep } from "./operations/advance.ts";
import { levelUp, type LevelUpStep } from "./operations/levelUp.ts";
import { sync, syncPair, type SyncStep } from "./operations/sync.ts";
import {
  backOff,
  report,
  shouldRetry,
  WRITE,
  type Attempt,
  type CouplerRuntime,
  type OperationContext,
  type WriteTx,
} from "./runOperation.ts";
import type { CallOptions } from "./types.ts";
import { PendingWrites } from "./writeChange.ts";

/** A write on a pair that may share a transaction with others on the same pair. */
export type PairWrite =
  | { operation: "levelUp"; input: LevelUpStep }
  | { operation: "advance"; input: AdvanceStep }
  | { operation: "sync"; input: SyncStep };

/** Write combining's settings (the API's COUPLER_WRITE_COMBINING*, see config.ts). */
export interface CombiningOptions {
  /** Combine concurrent writes to one pair into one transaction (default true). */
  enabled?: boolean;
  /** Most calls one transaction runs (default 64). */
  maxBatchSize?: number;
  /** Most calls that may wait for one pair in this process; more get OVERLOADED (default 1024). */
  maxQueuePerPair?: number;
}

export const DEFAULT_MAX_BATCH_SIZE = 64;
export const DEFAULT_MAX_QUEUE_PER_PAIR = 1024;

type Settled =
  { ok: true; outcome: Exclude<OperationOutcome, "error">; result: unknown } | { ok: false; error: CouplerError };

interface PendingCall {
  write: PairWrite;
  ctx: OperationContext;
  call: CallOptions;
  /** The call's lock timeout, in ms (0 = none, as PostgreSQL's lock_timeout). */
  lockTimeoutMs: number;
  /** When the call reached the combiner (performance.now()). */
  started: number;
  /** It waited in memory behind a transaction of this process on its pair. */
  queued: boolean;
  /** Its caller has its answer. */
  done: boolean;
  settle(settled: Settled): void;
}

/** Every call of a batch failed on its own: the transaction rolls back, each caller gets its error. */
class AllFailed extends Error {
  constructor(readonly settled: Settled[]) {
    super("every call of the batch failed");
  }
}

/** The pair statement found no pair: a batch of several runs its calls one by one (each takes the slow path). */
class IncompletePair extends Error {}

interface Lane {
  queue: PendingCall[];
}

/**
 * Write combining per (learner, specialization) pair, inside one process.
 * The first write to an idle pair runs at once, alone, exactly as without
 * combining (BEGIN, lock, write, COMMIT: four round trips). Writes to the
 * pair that arrive while its transaction is in flight wait in memory; the
 * next transaction runs up to `maxBatchSize` of them together: one lock
 * statement (which also reads every idempotency key of the batch), the calls
 * applied in arrival order to the rows in memory by the same pure operations,
 * one write statement and one COMMIT. The idea is flat combining (Hendler,
 * Incze, Shavit, Tzafrir, "Flat Combining and the Synchronization-Parallelism
 * Tradeoff", SPAA 2010) applied to a database transaction: the pair's row
 * locks serialize these calls anyway, so one transaction for many of them
 * costs one lock, one fsync and one round-trip sequence.
 *
 * Each caller sees what it would have seen alone, in arrival order: a call
 * that fails on its own (VALIDATION, NOT_FOUND) fails alone and changes
 * nothing; a failure of the whole transaction reaches every caller in it (a
 * deadlock or serialization failure is retried first, a DB error splits the
 * batch into single calls so only the guilty one fails).
 *
 * Calls share a batch only with calls of the same lock timeout. NOWAIT calls
 * never queue: they run alone at once, and fail with LOCK_TIMEOUT if the
 * pair's transaction holds the rows, as they would have. Time spent waiting
 * in memory counts against a call's lock timeout: a call that waited longer
 * gets LOCK_TIMEOUT without running, and a batch's lock_timeout is what its
 * oldest call has left.
 */
export class WriteCombiner {
  readonly enabled: boolean;
  readonly maxBatchSize: number;
  readonly maxQueuePerPair: number;
  readonly #rt: CouplerRuntime;
  readonly #lanes = new Map<string, Lane>();

  constructor(rt: CouplerRuntime, options: CombiningOptions = {}) {
    this.#rt = rt;
    this.enabled = options.enabled ?? true;
    this.maxBatchSize = options.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    this.maxQueuePerPair = options.maxQueuePerPair ?? DEFAULT_MAX_QUEUE_PER_PAIR;
    if (
      !Number.isInteger(this.maxBatchSize) ||
      this.maxBatchSize < 1 ||
      !Number.isInteger(this.maxQueuePerPair) ||
      this.maxQueuePerPair < 0
    ) {
      throw new RangeError(
        `write combining: maxBatchSize must be a positive integer and maxQueuePerPair a non-negative one (got ${this.maxBatchSize}, ${this.maxQueuePerPair})`,
      );
    }
  }

  /** Calls waiting in memory, over all pairs (for tests and gauges). */
  get waiting(): number {
    let n = 0;
    for (const lane of this.#lanes.values()) n += lane.queue.length;
    return n;
  }

  /**
   * Runs one write on its pair: alone when combining is off, the call is
   * NOWAIT or the pair is idle; otherwise after the pair's transaction in
   * flight, together with the calls that queued meanwhile. Resolves with the
   * call's own result; rejects with its own CouplerError, or OVERLOADED when
   * `maxQueuePerPair` calls already wait for the pair.
   */
  submit<T>(ctx: OperationContext, call: CallOptions, write: PairWrite): Promise<T> {
    const rt = this.#rt;
    return new Promise<T>((resolve, reject) => {
      const pending: PendingCall = {
        write,
        ctx,
        call,
        lockTimeoutMs: call.lockTimeoutMs ?? rt.lockTimeoutMs,
        started: performance.now(),
        queued: false,
        done: false,
        settle: (s) => (s.ok ? resolve(s.result as T) : reject(s.error)),
      };
      if (!this.enabled || (call.noWait ?? rt.noWait)) {
        void this.#runAlone(pending);
        return;
      }
      const key = `${write.input.userId}\u0000${write.input.specialization}`;
      const lane = this.#lanes.get(key);
      if (lane) {
        if (lane.queue.length >= this.maxQueuePerPair) {
          const error = new OverloadedError(
            `${ctx.operation}: ${lane.queue.length} calls already wait for user ${write.input.userId} in ${write.input.specialization} (the limit); retry later`,
            this.maxQueuePerPair,
            ctx,
          );
          this.#finish(pending, { ok: false, error }, { lockWaitMs: undefined, rowLocked: false, queued: true }, 0, 0);
          return;
        }
        pending.queued = true;
        lane.queue.push(pending);
        return;
      }
      const fresh: Lane = { queue: [pending] };
      this.#lanes.set(key, fresh);
      void this.#drain(key, fresh);
    });
  }

  /** Runs the pair's batches until no call waits, then forgets the pair. */
  async #drain(key: string, lane: Lane): Promise<void> {
    try {
      while (lane.queue.length > 0) {
        const batch = this.#take(lane);
        if (batch.length > 0) lane.queue.unshift(...(await this.#settling(batch, this.#runBatch(batch))));
      }
    } finally {
      this.#lanes.delete(key);
    }
  }

  /** `running`, and should it ever throw (a bug), an answer for every call of `batch` still waiting: no caller hangs. */
  async #settling(batch: PendingCall[], running: Promise<PendingCall[]>): Promise<PendingCall[]> {
    try {
      return await running;
    } catch (error) {
      const rt = this.#rt;
      for (const p of batch.filter((c) => !c.done)) {
        const failure = toCouplerError(error, {
          ...p.ctx,
          lockTimeoutMs: p.lockTimeoutMs,
          noWait: p.call.noWait ?? rt.noWait,
          attempts: 1,
        });
        this.#finish(
          p,
          { ok: false, error: failure },
          { lockWaitMs: undefined, rowLocked: false, queued: p.queued },
          0,
          0,
        );
      }
      return [];
    }
  }

  /** The next batch: the oldest calls with the first one's lock timeout, at most maxBatchSize; calls out of time fail. */
  #take(lane: Lane): PendingCall[] {
    const now = performance.now();
    const batch: PendingCall[] = [];
    for (let i = 0; i < lane.queue.length && batch.length < this.maxBatchSize;) {
      const pending = lane.queue[i] as PendingCall;
      if (remainingMs(pending, now) <= 0) {
        lane.queue.splice(i, 1);
        this.#finish(
          pending,
          { ok: false, error: lockTimeout(pending) },
          { lockWaitMs: now - pending.started, rowLocked: false, queued: true },
          0,
          0,
        );
        continue;
      }
      if (batch.length > 0 && pending.lockTimeoutMs !== batch[0]?.lockTimeoutMs) break;
      batch.push(pending);
      lane.queue.splice(i, 1);
    }
    return batch;
  }

  async #runAlone(pending: PendingCall): Promise<void> {
    let retry = [pending];
    while (retry.length > 0) retry = await this.#settling(retry, this.#runBatch(retry));
  }

  /**
   * One transaction for `batch` (calls on one pair, in arrival order), with
   * the retries of a single call. Settles every call, except those handed
   * back to wait again (a lock timeout that only the batch's oldest call had
   * earned).
   */
  async #runBatch(batch: PendingCall[]): Promise<PendingCall[]> {
    const rt = this.#rt;
    const [first] = batch;
    if (!first) return [];
    const batchStarted = performance.now();
    const lockTimeoutMs = Math.min(...batch.map((p) => Math.ceil(remainingMs(p, batchStarted))));
    const txOptions = { ...WRITE, lockTimeoutMs: Number.isFinite(lockTimeoutMs) ? lockTimeoutMs : 0 };
    const attempt: Attempt = { lockWaitMs: undefined, rowLocked: false };
    let retries = 0;
    let deadlocks = 0;
    for (;;) {
      attempt.lockWaitMs = undefined;
      try {
        const settled = await runTransaction(
          rt.pool,
          txOptions,
          (db, client) => this.#body({ rt, ctx: first.ctx, db, client, attempt, call: first.call }, batch),
          rt.faults,
        );
        batch.forEach((p, i) =>
          this.#finish(
            p,
            settled[i] as Settled,
            this.#waitOf(p, attempt, batchStarted),
            retries,
            deadlocks,
            batch.length,
          ),
        );
        return [];
      } catch (error) {
        if (error instanceof AllFailed) {
          batch.forEach((p, i) =>
            this.#finish(
              p,
              error.settled[i] as Settled,
              this.#waitOf(p, attempt, batchStarted),
              retries,
              deadlocks,
              batch.length,
            ),
          );
          return [];
        }
        if (error instanceof IncompletePair) return this.#oneByOne(batch);
        const state = sqlStateOf(error);
        if (state === SqlState.deadlockDetected) deadlocks++;
        if (shouldRetry(rt, error, state, retries)) {
          retries++;
          await backOff(rt, retries);
          continue;
        }
        // The lock statement gave up (lock_timeout or NOWAIT) before it could report: the rows were held.
        if (state === SqlState.lockNotAvailable) attempt.rowLocked = true;
        const classify = (p: PendingCall) =>
          toCouplerError(error, {
            ...p.ctx,
            lockTimeoutMs: p.lockTimeoutMs,
            noWait: p.call.noWait ?? rt.noWait,
            attempts: retries + 1,
          });
        // A DB error may belong to one call (a constraint its values broke): alone, only that call would fail.
        if (batch.length > 1 && classify(first).code === "DB") return this.#oneByOne(batch);
        const requeue: PendingCall[] = [];
        const now = performance.now();
        for (const p of batch) {
          // The batch waited as long as its oldest call had left; a younger call has time left and waits again.
          if (state === SqlState.lockNotAvailable && batch.length > 1 && remainingMs(p, now) >= 1) requeue.push(p);
          else
            this.#finish(
              p,
              { ok: false, error: classify(p) },
              this.#waitOf(p, attempt, batchStarted),
              retries,
              deadlocks,
              batch.length,
            );
        }
        return requeue;
      }
    }
  }

  /** The batch's calls one at a time, in order, each its own transaction. */
  async #oneByOne(batch: PendingCall[]): Promise<PendingCall[]> {
    for (const p of batch) await this.#runAlone(p);
    return [];
  }

  /**
   * The transaction's work: lock the pair (reading every idempotency key of
   * the batch), plan each call in arrival order over the rows in memory, and
   * write what they changed in one statement. A call's own CouplerError is
   * its result; anything else fails the transaction.
   */
  async #body(tx: WriteTx, batch: PendingCall[]): Promise<Settled[]> {
    const [first] = batch;
    if (!first) return [];
    const { userId, specialization } = first.write.input;
    const keys = keysOf(batch);
    let pair = await lockPairWithKeys(tx, { userId, specialization }, keys);
    if (!pair) {
      if (batch.length > 1) throw new IncompletePair();
      // One call on a pair with a missing half: today's path, which names the missing half or repairs it.
      if (first.write.operation === "sync") {
        const { outcome, result } = await sync({ ...tx, ctx: first.ctx }, first.write.input);
        return [{ ok: true, outcome, result }];
      }
      pair = await lockHalvesOrNotFound({ ...tx, ctx: first.ctx }, { userId, specialization }, keys);
    }
    const writes = new PendingWrites(pair);
    const settled: Settled[] = [];
    for (const p of batch) {
      try {
        const planned = plan(p, pair);
        if (planned.change) writes.apply(planned.change);
        const key = planned.change?.idempotency;
        if (key)
          pair.stored.set(storedKey(key.caller, key.key), { requestHash: key.requestHash, response: key.response });
        settled.push({ ok: true, outcome: planned.outcome, result: planned.result });
      } catch (error) {
        if (!isCouplerError(error)) throw error;
        settled.push({ ok: false, error });
      }
    }
    if (settled.every((s) => !s.ok)) throw new AllFailed(settled);
    await writes.write(tx);
    return settled;
  }

  /**
   * The call's lock wait: for a call that queued, the time it waited in
   * memory for the pair plus its transaction's lock statement. A queued call
   * counts as contended by the queue (it found the pair busy in this
   * process), unless its transaction then found the rows held by another
   * transaction (a row lock, whoever queued).
   */
  #waitOf(p: PendingCall, attempt: Attempt, batchStarted: number): Attempt {
    const queuedMs = p.queued ? batchStarted - p.started : 0;
    return {
      lockWaitMs: attempt.lockWaitMs === undefined ? undefined : attempt.lockWaitMs + queuedMs,
      rowLocked: attempt.rowLocked,
      queued: p.queued,
    };
  }

  #finish(
    p: PendingCall,
    settled: Settled,
    attempt: Attempt,
    retries: number,
    deadlocks: number,
    batchSize?: number,
  ): void {
    const outcome = settled.ok ? settled.outcome : "error";
    if (p.done) return;
    p.done = true;
    report(
      this.#rt,
      p.ctx,
      outcome,
      settled.ok ? undefined : settled.error,
      p.started,
      attempt,
      retries,
      deadlocks,
      batchSize,
    );
    p.settle(settled);
  }
}

/** One call planned over the pair's rows in memory, by its pure operation. */
function plan(p: PendingCall, pair: LockedPair): Planned<unknown> {
  const { write, ctx } = p;
  switch (write.operation) {
    case "levelUp": {
      const key = write.input.idempotencyKey;
      return levelUp(ctx, pair, key ? pair.stored.get(storedKey(write.input.actor, key)) : undefined, write.input);
    }
    case "advance":
      return advance(ctx, pair, write.input);
    case "sync":
      return syncPair(ctx, pair, write.input);
  }
}

/** The distinct (caller, key) pairs of the batch's keyed calls. */
function keysOf(batch: PendingCall[]): CallerKey[] {
  const seen = new Map<string, CallerKey>();
  for (const { write } of batch) {
    if (write.operation !== "levelUp" || !write.input.idempotencyKey) continue;
    const key = { caller: write.input.actor, key: write.input.idempotencyKey };
    seen.set(storedKey(key.caller, key.key), key);
  }
  return [...seen.values()];
}

/** What is left of a call's lock timeout after its wait in memory, in ms (Infinity without a timeout). */
function remainingMs(p: PendingCall, now: number): number {
  return p.lockTimeoutMs === 0 ? Number.POSITIVE_INFINITY : p.lockTimeoutMs - (now - p.started);
}

function lockTimeout(p: PendingCall): LockTimeoutError {
  return new LockTimeoutError(
    `${p.ctx.operation} for user ${p.ctx.userId} in ${p.ctx.specialization}: could not lock the rows within ${p.lockTimeoutMs} ms (waited behind this process's transactions on the pair)`,
    { lockTimeoutMs: p.lockTimeoutMs, noWait: false },
    { operation: p.ctx.operation, userId: p.ctx.userId, specialization: p.ctx.specialization },
  );
}
