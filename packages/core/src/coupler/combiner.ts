import { LockTimeoutError, OverloadedError, SqlState, toCouplerError } from "../errors/index.ts";
import { AllFailed, IncompletePair, batchTransaction, type PairWrite, type Settled } from "./batchTransaction.ts";
import type { CouplerRuntime, OperationContext } from "./CouplerRuntime.ts";
import type { LockStats } from "./reportCall.ts";
import { reportCall } from "./reportCall.ts";
import { WRITE, runAttempts, type AttemptStats } from "./runAttempts.ts";
import type { CallOptions, CombiningOptions } from "./types.ts";

export const DEFAULT_MAX_BATCH_SIZE = 64;
export const DEFAULT_MAX_QUEUE_PER_PAIR = 1024;

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

/** The calls waiting for one pair in this process, while a transaction on it is in flight. */
interface PairQueue {
  calls: PendingCall[];
}

const NO_ATTEMPT: AttemptStats = { retries: 0, deadlocks: 0, locks: { lockWaitMs: undefined, rowLocked: false } };

/**
 * Write combining per (learner, specialization) pair, inside one process.
 * The first write to an idle pair runs at once, alone, exactly as without
 * combining (BEGIN, lock, write, COMMIT: four round trips). Writes to the
 * pair that arrive while its transaction is in flight wait in memory; the
 * next transaction runs up to `maxBatchSize` of them together
 * (`batchTransaction.ts`: one lock statement, the calls applied in arrival
 * order to the rows in memory, one write statement, one COMMIT). The idea is
 * flat combining (Hendler, Incze, Shavit, Tzafrir, "Flat Combining and the
 * Synchronization-Parallelism Tradeoff", SPAA 2010) applied to a database
 * transaction: the pair's row locks serialize these calls anyway, so one
 * transaction for many of them costs one lock, one fsync and one round-trip
 * sequence. With combining off every call is a batch of one.
 *
 * Each caller sees what it would have seen alone, in arrival order: a call
 * that fails on its own (VALIDATION, NOT_FOUND) fails alone and changes
 * nothing; a failure of the whole transaction reaches every caller in it (a
 * deadlock or serialization failure is retried first, by `runAttempts`; a
 * DB error splits the batch into single calls so only the guilty one fails).
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
  readonly #queues = new Map<string, PairQueue>();

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
      const queue = this.#queues.get(key);
      if (queue) {
        if (queue.calls.length >= this.maxQueuePerPair) {
          const error = new OverloadedError(
            `${ctx.operation}: ${queue.calls.length} calls already wait for user ${write.input.userId} in ${write.input.specialization} (the limit); retry later`,
            this.maxQueuePerPair,
            ctx,
          );
          pending.queued = true;
          this.#finish(pending, { ok: false, error }, NO_ATTEMPT);
          return;
        }
        pending.queued = true;
        queue.calls.push(pending);
        return;
      }
      const fresh: PairQueue = { calls: [pending] };
      this.#queues.set(key, fresh);
      void this.#drain(key, fresh);
    });
  }

  /** Runs the pair's batches until no call waits, then forgets the pair. */
  async #drain(key: string, queue: PairQueue): Promise<void> {
    try {
      while (queue.calls.length > 0) {
        const batch = this.#take(queue);
        if (batch.length > 0) queue.calls.unshift(...(await this.#settling(batch, this.#runBatch(batch))));
      }
    } finally {
      this.#queues.delete(key);
    }
  }

  /** `running`, and should it ever throw (a bug), an answer for every call of `batch` still waiting: no caller hangs. */
  async #settling(batch: PendingCall[], running: Promise<PendingCall[]>): Promise<PendingCall[]> {
    try {
      return await running;
    } catch (error) {
      for (const p of batch.filter((c) => !c.done)) {
        this.#finish(p, { ok: false, error: this.#classify(p, error, 1) }, NO_ATTEMPT);
      }
      return [];
    }
  }

  /** The next batch: the oldest calls with the first one's lock timeout, at most maxBatchSize; calls out of time fail. */
  #take(queue: PairQueue): PendingCall[] {
    const now = performance.now();
    const batch: PendingCall[] = [];
    for (let i = 0; i < queue.calls.length && batch.length < this.maxBatchSize;) {
      const pending = queue.calls[i] as PendingCall;
      if (remainingMs(pending, now) <= 0) {
        queue.calls.splice(i, 1);
        this.#finish(
          pending,
          { ok: false, error: lockTimeout(pending) },
          {
            ...NO_ATTEMPT,
            locks: { lockWaitMs: now - pending.started, rowLocked: false },
          },
        );
        continue;
      }
      if (batch.length > 0 && pending.lockTimeoutMs !== batch[0]?.lockTimeoutMs) break;
      batch.push(pending);
      queue.calls.splice(i, 1);
    }
    return batch;
  }

  async #runAlone(pending: PendingCall): Promise<void> {
    let retry = [pending];
    while (retry.length > 0) retry = await this.#settling(retry, this.#runBatch(retry));
  }

  /**
   * One transaction for `batch` (calls on one pair, in arrival order),
   * through the attempt loop every call shares (`runAttempts`). Settles
   * every call, except those handed back to wait again (a lock timeout that
   * only the batch's oldest call had earned).
   */
  async #runBatch(batch: PendingCall[]): Promise<PendingCall[]> {
    const rt = this.#rt;
    const [first] = batch;
    if (!first) return [];
    const batchStarted = performance.now();
    const lockTimeoutMs = Math.min(...batch.map((p) => Math.ceil(remainingMs(p, batchStarted))));
    const attempts = await runAttempts(
      rt,
      {
        userId: first.write.input.userId,
        ctx: first.ctx,
        options: { ...WRITE, lockTimeoutMs: Number.isFinite(lockTimeoutMs) ? lockTimeoutMs : 0 },
        noWait: first.call.noWait ?? rt.noWait,
      },
      (tx) => batchTransaction(tx, batch),
    );
    const { stats } = attempts;
    const each = (settle: (p: PendingCall, i: number) => Settled) =>
      batch.forEach((p, i) => this.#finish(p, settle(p, i), this.#statsOf(p, stats, batchStarted), batch.length));
    if (attempts.ok) {
      each((_, i) => attempts.value[i] as Settled);
      return [];
    }
    const { error, sqlState } = attempts;
    if (error instanceof AllFailed) {
      each((_, i) => error.settled[i] as Settled);
      return [];
    }
    if (error instanceof IncompletePair) return this.#oneByOne(batch);
    // A DB error may belong to one call (a constraint its values broke): alone, only that call would fail.
    if (batch.length > 1 && this.#classify(first, error, stats.retries + 1).code === "DB") return this.#oneByOne(batch);
    const requeue: PendingCall[] = [];
    const now = performance.now();
    for (const p of batch) {
      // The batch waited as long as its oldest call had left; a younger call has time left and waits again.
      if (sqlState === SqlState.lockNotAvailable && batch.length > 1 && remainingMs(p, now) >= 1) requeue.push(p);
      else
        this.#finish(
          p,
          { ok: false, error: this.#classify(p, error, stats.retries + 1) },
          this.#statsOf(p, stats, batchStarted),
          batch.length,
        );
    }
    return requeue;
  }

  /** The batch's calls one at a time, in order, each its own transaction. */
  async #oneByOne(batch: PendingCall[]): Promise<PendingCall[]> {
    for (const p of batch) await this.#runAlone(p);
    return [];
  }

  #classify(p: PendingCall, error: unknown, attempts: number) {
    return toCouplerError(error, {
      ...p.ctx,
      lockTimeoutMs: p.lockTimeoutMs,
      noWait: p.call.noWait ?? this.#rt.noWait,
      attempts,
    });
  }

  /**
   * The call's share of its transaction's attempts. Its lock wait: for a
   * call that queued, the time it waited in memory for the pair plus its
   * transaction's lock statements.
   */
  #statsOf(p: PendingCall, stats: AttemptStats, batchStarted: number): AttemptStats {
    const queuedMs = p.queued ? batchStarted - p.started : 0;
    const { lockWaitMs, rowLocked } = stats.locks;
    const locks: LockStats = { lockWaitMs: lockWaitMs === undefined ? undefined : lockWaitMs + queuedMs, rowLocked };
    return { ...stats, locks };
  }

  /**
   * Answers the call once and reports it. A queued call counts as contended
   * by the queue (it found the pair busy in this process), unless its
   * transaction then found the rows held by another (a row lock).
   */
  #finish(p: PendingCall, settled: Settled, stats: AttemptStats, batchSize?: number): void {
    if (p.done) return;
    p.done = true;
    reportCall(this.#rt, p.ctx, {
      outcome: settled.ok ? settled.outcome : "error",
      error: settled.ok ? undefined : settled.error,
      started: p.started,
      locks: stats.locks,
      queued: p.queued,
      retries: stats.retries,
      deadlocks: stats.deadlocks,
      batchSize,
    });
    p.settle(settled);
  }
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
