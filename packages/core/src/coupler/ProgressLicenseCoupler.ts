import { Catalogue } from "../catalogue.ts";
import { DEFAULT_IDEMPOTENCY_RETENTION_MS } from "../idempotency.ts";
import { ValidationError } from "../errors/index.ts";
import * as inputs from "../inputs.ts";
import { createLogger } from "../logger.ts";
import { parseInput } from "../validate.ts";
import { WriteCombiner } from "./combiner.ts";
import { onePool } from "./ConnectionSource.ts";
import type { CouplerRuntime, OperationContext, Outcome } from "./CouplerRuntime.ts";
import { enroll } from "./operations/enroll.ts";
import { get } from "./operations/get.ts";
import { history } from "./operations/history.ts";
import { validate } from "./operations/validate.ts";
import type { PairTransaction } from "./PairTransaction.ts";
import { ONE_STATEMENT, WRITE } from "./runAttempts.ts";
import { precheck, rulesFor, runCall } from "./runCall.ts";
import { SeedAliases } from "./seedAliases.ts";
import { Statements } from "./statements.ts";
import type {
  AdvanceResult,
  CallOptions,
  ConsistencyReport,
  CouplerOptions,
  EnrollResult,
  HistoryPage,
  Input,
  LevelUpResult,
  PairState,
  SyncResult,
} from "./types.ts";

const DEFAULT_ACTOR = "system";

/**
 * Keeps a learner's progress and license in lockstep. Every write is one
 * transaction that locks the progress row, then the license row (always that
 * order, so two coupler calls cannot deadlock each other), validates, writes
 * both rows, the level history and an audit row, and commits all or nothing.
 *
 * Each method takes one input object, checks it with the schema in `inputs`
 * (the API's schemas too), and hands it to the operation of the same name
 * in `operations/`. The seed's names remain as deprecated aliases, inherited
 * from `SeedAliases` (seedAliases.ts).
 *
 * Every call runs on the connection `CouplerOptions.connections` gives for
 * its learner (`runAttempts.ts`, the one place that asks), in a
 * `PairTransaction` that cannot reach the pool.
 *
 * Writes to one pair (levelUp, advance, sync) that arrive while a
 * transaction on that pair is in flight in this coupler wait in memory and
 * run together in its next transaction, each caller getting its own result
 * or error as if alone (write combining, `combiner.ts`; on by default).
 */
export class ProgressLicenseCoupler extends SeedAliases {
  readonly catalogue: Catalogue;
  readonly #rt: CouplerRuntime;
  readonly #combiner: WriteCombiner;

  constructor(options: CouplerOptions) {
    super();
    this.catalogue = new Catalogue(options.db);
    this.#rt = {
      connections: options.connections ?? onePool(options.pool),
      catalogue: this.catalogue,
      statements: new Statements(options.preparedStatements ?? true, options.citus ?? false),
      lockTimeoutMs: options.lockTimeoutMs ?? 2000,
      noWait: options.noWait ?? false,
      maxRetries: options.maxRetries ?? 3,
      retryBaseDelayMs: options.retryBaseDelayMs ?? 5,
      idempotencyRetentionMs: options.idempotencyRetentionMs ?? DEFAULT_IDEMPOTENCY_RETENTION_MS,
      observer: options.observer,
      logger: options.logger ?? createLogger(),
      faults: options.faults,
    };
    this.#combiner = new WriteCombiner(this.#rt, options.combining);
  }

  /** Whether concurrent writes to one pair share a transaction (see `CouplerOptions.combining`). */
  get combining(): boolean {
    return this.#combiner.enabled;
  }

  /** Creates the progress and license rows of a learner at level 1, together. Idempotent. */
  async enroll(input: Input<inputs.PairInput>, call: CallOptions = {}): Promise<EnrollResult> {
    const ctx = this.#ctx("enroll", input);
    const parsed = await precheck(this.#rt, ctx, async () => {
      const valid = parseInput(inputs.enrollInput, input, ctx);
      await rulesFor(this.#rt, valid.specialization, ctx);
      return valid;
    });
    const options = { ...WRITE, lockTimeoutMs: call.lockTimeoutMs ?? this.#rt.lockTimeoutMs };
    // Its lock statements wait: the rows it may have just inserted are its own.
    return runCall(this.#rt, ctx, { userId: parsed.userId, options, noWait: false }, (tx) =>
      enroll(tx, { ...parsed, actor: call.actor ?? DEFAULT_ACTOR }),
    );
  }

  /**
   * Awards XP and sessions; the level follows the specialization's XP curve,
   * capped at its maximum and never lowered. With an idempotency key, a
   * repeated call returns the first call's result and changes nothing; the
   * same key with a different request is refused (VALIDATION).
   */
  async levelUp(input: Input<inputs.LevelUpInput>, call: CallOptions = {}): Promise<LevelUpResult> {
    const ctx = this.#ctx("levelUp", input);
    const step = await precheck(this.#rt, ctx, async () => {
      const valid = parseInput(inputs.levelUpInput, input, ctx);
      return {
        ...valid,
        rules: await rulesFor(this.#rt, valid.specialization, ctx),
        actor: call.actor ?? DEFAULT_ACTOR,
      };
    });
    return this.#combiner.submit(ctx, call, { operation: "levelUp", input: step });
  }

  /**
   * Sets a learner's level on both rows (the admin advancement), optionally
   * adding XP and sessions. The license's highest level is max(old, new).
   */
  async advance(input: Input<inputs.AdvanceInput>, call: CallOptions = {}): Promise<AdvanceResult> {
    const ctx = this.#ctx("advance", input);
    const step = await precheck(this.#rt, ctx, async () => {
      const valid = parseInput(inputs.advanceInput, input, ctx);
      const rules = await rulesFor(this.#rt, valid.specialization, ctx);
      if (valid.newLevel > rules.maxLevel) {
        throw new ValidationError(
          `advance: level ${valid.newLevel} is above ${rules.id}'s maximum level ${rules.maxLevel}`,
          [{ path: ["newLevel"], message: `must be at most ${rules.maxLevel}` }],
          ctx,
        );
      }
      return { ...valid, actor: call.actor ?? DEFAULT_ACTOR };
    });
    return this.#combiner.submit(ctx, call, { operation: "advance", input: step });
  }

  /**
   * Repairs a desynced pair from the named side: `progress` copies the
   * progress level onto the license, `license` the license level onto the
   * progress. A missing half is recreated from the other. A pair already in
   * step is left alone: a second call changes nothing and writes no history.
   */
  async sync(input: Input<inputs.SyncInput>, call: CallOptions = {}): Promise<SyncResult> {
    const ctx = this.#ctx("sync", input);
    const step = await precheck(this.#rt, ctx, async () => {
      const valid = parseInput(inputs.syncInput, input, ctx);
      await rulesFor(this.#rt, valid.specialization, ctx);
      return { ...valid, actor: call.actor ?? DEFAULT_ACTOR };
    });
    return this.#combiner.submit(ctx, call, { operation: "sync", input: step });
  }

  /** Checks one pair in a single snapshot: both halves present, levels equal and in range, history contiguous. */
  async validate(input: Input<inputs.PairInput>): Promise<ConsistencyReport> {
    const ctx = this.#ctx("validate", input);
    const step = await precheck(this.#rt, ctx, async () => {
      const valid = parseInput(inputs.pairInput, input, ctx);
      return { ...valid, rules: await rulesFor(this.#rt, valid.specialization, ctx) };
    });
    return this.#read(ctx, step.userId, (tx) => validate(tx, step));
  }

  /** Both rows of a pair, read in one snapshot. */
  async get(input: Input<inputs.PairInput>): Promise<PairState> {
    const ctx = this.#ctx("get", input);
    const parsed = await precheck(this.#rt, ctx, async () => {
      const valid = parseInput(inputs.pairInput, input, ctx);
      await rulesFor(this.#rt, valid.specialization, ctx); // an unknown id is a bad input, as on writes
      return valid;
    });
    return this.#read(ctx, parsed.userId, (tx) => get(tx, parsed));
  }

  /** A license's level changes, newest first, a page at a time. */
  async history(input: Input<inputs.HistoryInput>): Promise<HistoryPage> {
    const ctx = this.#ctx("history", input);
    const parsed = await precheck(this.#rt, ctx, async () => {
      const valid = parseInput(inputs.historyInput, input, ctx);
      await rulesFor(this.#rt, valid.specialization, ctx);
      return valid;
    });
    return this.#read(ctx, parsed.userId, (tx) => history(tx, parsed));
  }

  /**
   * A read on the learner's connection, reported once: one statement and no
   * transaction block around it (one statement sees one snapshot).
   */
  #read<T>(ctx: OperationContext, userId: number, body: (tx: PairTransaction) => Promise<Outcome<T>>): Promise<T> {
    return runCall(this.#rt, ctx, { userId, options: ONE_STATEMENT, noWait: false }, body);
  }

  #ctx(operation: OperationContext["operation"], input: unknown): OperationContext {
    const { userId, specialization } = (input ?? {}) as { userId?: unknown; specialization?: unknown };
    return {
      operation,
      userId: typeof userId === "number" ? userId : undefined,
      specialization: typeof specialization === "string" ? specialization : undefined,
    };
  }
}
