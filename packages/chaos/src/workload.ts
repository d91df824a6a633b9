import type { inputs } from "@coupler/core";
import { ClientAborted, classifyError } from "./classifyError.ts";
import type { CallVia, ChaosDriver } from "./drivers.ts";
import type { FaultInjector } from "./faults.ts";
import type { History, OpKind, OpRecord } from "./history.ts";
import type { Random } from "./random.ts";

export interface Pair {
  userId: number;
  specialization: string;
  maxLevel: number;
}

export const DEFAULT_MIX: Record<OpKind, number> = { levelUp: 0.55, advance: 0.15, sync: 0.15, validate: 0.15 };

export interface WorkloadOptions {
  round: number;
  clients: number;
  /** Operations to issue in this round (shared by all clients). */
  ops: number;
  /** No new operation starts after this (Date.now() ms). */
  deadline: number;
  pairs: readonly Pair[];
  /** The run's root random stream; each client forks its own, so every mode replays the same requests. */
  random: Random;
  /** Distinguishes idempotency keys of different runs and modes. */
  keyPrefix: string;
  mix?: Record<OpKind, number>;
  /** While this returns true, clients go on past the deadline and the ops budget (e.g. until a cluster's growth is done). */
  keepGoing?: () => boolean;
}

const MAX_ATTEMPTS = 200;
/** How long after the round's deadline a client keeps retrying one operation before leaving it to the resolution phase. */
const RETRY_GRACE_MS = 5_000;

/**
 * K concurrent clients issuing a seeded random mix of operations on a few hot
 * pairs. An attempt whose outcome is unknown (dropped connection, timeout,
 * abort) is retried with the same idempotency key until it answers, when the
 * driver allows retries.
 */
export class Workload {
  /** Calls the client stopped waiting for; they must settle before any final check. */
  readonly #background = new Set<Promise<unknown>>();

  constructor(
    private readonly driver: ChaosDriver,
    private readonly history: History,
    private readonly injector: FaultInjector | undefined,
  ) {}

  async run(options: WorkloadOptions): Promise<void> {
    let budget = options.ops;
    const take = () => (budget-- > 0 && Date.now() < options.deadline) || (options.keepGoing?.() ?? false);
    const mix = options.mix ?? DEFAULT_MIX;
    await Promise.all(
      Array.from({ length: options.clients }, async (_, client) => {
        const random = options.random.fork(`round-${options.round}-client-${client}`);
        for (let n = 0; take(); n++) {
          const op = this.history.add(nextOp(random, mix, options, client, n));
          // An op started past the deadline (keepGoing) gets the same grace from its own start.
          await this.#execute(op, Math.max(options.deadline, Date.now()) + RETRY_GRACE_MS);
        }
      }),
    );
  }

  /** Waits for every abandoned call to finish, so the database holds its final state. */
  async settle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
  }

  /** Retries every operation whose outcome is still unknown until it answers (run with faults stopped). */
  async resolvePending(): Promise<number> {
    await this.settle();
    const pending = this.history.pending();
    for (const op of pending) await this.#execute(op, Date.now() + 60_000);
    return pending.length;
  }

  async #execute(op: OpRecord, retryUntil: number): Promise<void> {
    op.startedAt ??= performance.now();
    for (;;) {
      op.attempts++;
      try {
        const result = await this.#attempt(op);
        op.latencyMs = Math.round(performance.now() - op.startedAt);
        this.history.ack(op, result);
        return;
      } catch (error) {
        const failure = classifyError(error);
        op.errors.push(failure.code);
        if (failure.indeterminate) op.indeterminate++;
        if (!this.driver.retries) {
          op.status = "failed";
          return;
        }
        if (failure.retryable && op.attempts < MAX_ATTEMPTS && Date.now() < retryUntil) {
          await sleep(1 + Math.random() * Math.min(200, 5 * 2 ** Math.min(op.attempts, 6)));
          continue;
        }
        // A refusal after an attempt of unknown outcome does not say whether that attempt applied.
        op.status = failure.retryable || op.indeterminate > 0 ? "pending" : "failed";
        return;
      }
    }
  }

  async #attempt(op: OpRecord) {
    const controller = new AbortController();
    const via: CallVia = { statementTimeout: this.injector?.useStatementTimeout() ?? false, signal: controller.signal };
    const abortAfter = this.injector?.abortAfterMs();
    const call = this.driver.run(op, via);
    if (abortAfter === undefined) return call;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.injector?.countAbort();
        this.#track(call);
        controller.abort();
        reject(new ClientAborted(`client stopped waiting after ${abortAfter} ms`));
      }, abortAfter);
    });
    try {
      return await Promise.race([call, gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  #track(call: Promise<unknown>): void {
    const settled = call.catch(() => {});
    this.#background.add(settled);
    void settled.finally(() => this.#background.delete(settled));
  }
}

function nextOp(random: Random, mix: Record<OpKind, number>, options: WorkloadOptions, client: number, n: number) {
  const pair = random.pick(options.pairs);
  const kind = pickKind(random, mix);
  const base = { round: options.round, client, kind, userId: pair.userId, specialization: pair.specialization };
  // Every draw happens whatever the kind, so all modes consume the stream identically.
  const xp = random.int(1, 300);
  const sessions = random.int(0, 3);
  const newLevel = random.int(1, pair.maxLevel);
  const source: inputs.SyncSource = random.chance(0.5) ? "progress" : "license";
  switch (kind) {
    case "levelUp":
      return { ...base, xp, sessions, key: `${options.keyPrefix}-r${options.round}-c${client}-n${n}` };
    case "advance":
      return { ...base, newLevel };
    case "sync":
      return { ...base, source };
    case "validate":
      return base;
  }
}

function pickKind(random: Random, mix: Record<OpKind, number>): OpKind {
  const entries = Object.entries(mix) as [OpKind, number][];
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let roll = random.next() * total;
  for (const [kind, weight] of entries) {
    roll -= weight;
    if (roll < 0) return kind;
  }
  return "validate";
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
