import { createHash } from "node:crypto";
import { and, desc, eq, lt, sql, type Placeholder, type WithSubquery } from "drizzle-orm";
import type pg from "pg";
import type { Logger } from "pino";
import { Catalogue } from "./catalogue.ts";
import type { Db } from "./client.ts";
import {
  CouplerError,
  NotFoundError,
  SqlState,
  ValidationError,
  sqlStateOf,
  toCouplerError,
} from "./errors/index.ts";
import * as inputs from "./inputs.ts";
import { createLogger } from "./logger.ts";
import type { CouplerObserver, OperationName, OperationOutcome } from "./observer.ts";
import {
  couplerAuditLog,
  idempotencyKeys,
  licenseProgressions,
  specializationProgress,
  userLicenses,
  users,
  type SpecializationProgress,
  type UserLicense,
} from "./schema.ts";
import { levelForXp, type SpecializationRules } from "./specializations.ts";
import { runTransaction, type TransactionFaults, type TransactionOptions } from "./transaction.ts";
import { parseInput } from "./validate.ts";
import { preparedFor } from "./prepared.ts";

export interface CouplerFaults extends TransactionFaults {
  /** Between the progress write and the license write of a level change. */
  afterProgressWrite?(client: pg.PoolClient): Promise<void>;
}

export interface CouplerOptions {
  pool: pg.Pool;
  db: Db;
  /** Longest wait for a pair's row locks before LOCK_TIMEOUT, in ms (SET LOCAL lock_timeout). */
  lockTimeoutMs?: number;
  /** Fail at once with LOCK_TIMEOUT instead of waiting (FOR UPDATE NOWAIT). */
  noWait?: boolean;
  /** Retries of a transaction that hit a deadlock or serialization failure. */
  maxRetries?: number;
  /** First back-off delay; each retry waits a random time up to base * 2^attempt. */
  retryBaseDelayMs?: number;
  observer?: CouplerObserver;
  logger?: Logger;
  faults?: CouplerFaults;
}

/** Per-call overrides. */
export interface CallOptions {
  /** Who asked, written to the history and the audit log. */
  actor?: string;
  noWait?: boolean;
  lockTimeoutMs?: number;
}

export interface ProgressState {
  currentLevel: number;
  totalXp: number;
  completedSessions: number;
  updatedAt: Date;
}

export interface LicenseState {
  id: number;
  currentLevel: number;
  maxAchievedLevel: number;
  updatedAt: Date;
}

export interface PairState {
  userId: number;
  specialization: string;
  progress: ProgressState;
  license: LicenseState;
}

export interface EnrollResult extends PairState {
  /** False when the learner was already enrolled (nothing changed). */
  created: boolean;
}

export interface LevelUpResult {
  userId: number;
  specialization: string;
  previousLevel: number;
  newLevel: number;
  totalXp: number;
  completedSessions: number;
  maxAchievedLevel: number;
  leveledUp: boolean;
  /** True when an earlier call with the same idempotency key produced this result. */
  replayed: boolean;
}

export interface UpdateLevelResult {
  userId: number;
  specialization: string;
  previousLevel: number;
  newLevel: number;
  totalXp: number;
  completedSessions: number;
  maxAchievedLevel: number;
  changed: boolean;
}

export interface SyncResult {
  userId: number;
  specialization: string;
  source: inputs.SyncSource;
  /** Levels found before the repair. */
  progressLevel: number | null;
  licenseLevel: number | null;
  /** The level both rows hold now. */
  level: number;
  changed: boolean;
}

export type ConsistencyIssueCode =
  | "LEVEL_MISMATCH"
  | "MISSING_PROGRESS"
  | "MISSING_LICENSE"
  | "LEVEL_OUT_OF_RANGE"
  | "MAX_BELOW_CURRENT"
  | "HISTORY_GAP";

export interface ConsistencyIssue {
  code: ConsistencyIssueCode;
  message: string;
}

export interface ConsistencyReport {
  userId: number;
  specialization: string;
  consistent: boolean;
  issues: ConsistencyIssue[];
  progress: ProgressState | null;
  license: LicenseState | null;
}

export interface HistoryEntry {
  id: number;
  fromLevel: number;
  toLevel: number;
  reason: string;
  actor: string;
  createdAt: Date;
}

export interface HistoryPage {
  items: HistoryEntry[];
  /** Pass as `cursor` to read the next (older) page; null on the last page. */
  nextCursor: number | null;
}

interface Attempt {
  lockWaitMs: number | undefined;
  /** Take the locks with NOWAIT first, to learn whether another transaction holds them. */
  probe: boolean;
  /** A probe found the rows locked: this call had to wait. */
  contended: boolean;
}

/** The NOWAIT probe found the pair locked; the transaction restarts and waits. */
class LocksHeld extends Error {}

interface Ctx {
  operation: OperationName;
  userId: number | undefined;
  specialization: string | undefined;
}

const WRITE: TransactionOptions = { isolationLevel: "read committed", accessMode: "read write" };
const SNAPSHOT: TransactionOptions = { isolationLevel: "repeatable read", accessMode: "read only" };
const DEFAULT_ACTOR = "system";

/**
 * Keeps a learner's progress and license in lockstep. Every write is one
 * transaction that locks the progress row, then the license row (always that
 * order, so two coupler calls cannot deadlock each other), validates, writes
 * both rows, the level history and an audit row, and commits all or nothing.
 */
export class ProgressLicenseCoupler {
  readonly catalogue: Catalogue;
  readonly #pool: pg.Pool;
  readonly #lockTimeoutMs: number;
  readonly #noWait: boolean;
  readonly #maxRetries: number;
  readonly #retryBaseDelayMs: number;
  readonly #observer: CouplerObserver | undefined;
  readonly #logger: Logger;
  readonly #faults: CouplerFaults | undefined;

  constructor(options: CouplerOptions) {
    this.#pool = options.pool;
    this.catalogue = new Catalogue(options.db);
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 2000;
    this.#noWait = options.noWait ?? false;
    this.#maxRetries = options.maxRetries ?? 3;
    this.#retryBaseDelayMs = options.retryBaseDelayMs ?? 5;
    this.#observer = options.observer;
    this.#logger = options.logger ?? createLogger();
    this.#faults = options.faults;
  }

  /** Creates the progress and license rows of a learner at level 1, together. Idempotent. */
  async enroll(userId: number, specialization: string, call: CallOptions = {}): Promise<EnrollResult> {
    const ctx: Ctx = { operation: "enroll", userId, specialization };
    const input = await this.#prepare(ctx, async () => {
      const parsed = parseInput(inputs.enrollInput, { userId, specialization }, ctx);
      await this.#rules(parsed.specialization, ctx);
      return parsed;
    });
    const actor = call.actor ?? DEFAULT_ACTOR;
    return this.#write(ctx, call, async (tx, client, attempt) => {
      const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, input.userId)).for("key share");
      if (!user) throw new NotFoundError("user", `enroll: user ${input.userId} does not exist`, ctx);
      const progress = await tx
        .insert(specializationProgress)
        .values({ studentId: input.userId, specializationId: input.specialization })
        .onConflictDoNothing()
        .returning();
      const license = await tx
        .insert(userLicenses)
        .values({ userId: input.userId, specializationType: input.specialization })
        .onConflictDoNothing()
        .returning();
      const created = progress.length > 0 || license.length > 0;
      const pair = await this.#lockPair(tx, client, input.userId, input.specialization, ctx, { noWait: false }, attempt);
      await this.#audit(tx, {
        operation: "enroll",
        userId: input.userId,
        specializationId: input.specialization,
        fromLevel: null,
        toLevel: pair.license.currentLevel,
        actor,
        outcome: created ? "applied" : "noop",
      });
      return { outcome: created ? "applied" : "noop", result: { ...toPairState(pair.progress, pair.license), created } };
    });
  }

  /**
   * Sets a learner's level on both rows, optionally adding XP and sessions.
   * The license's highest level is max(old, new); a history row is written
   * when the level changes, and an audit row always.
   */
  async updateLevelAtomic(
    userId: number,
    specialization: string,
    newLevel: number,
    details: { xpChange?: number; sessionsChange?: number; reason: string; actor: string },
    call: CallOptions = {},
  ): Promise<UpdateLevelResult> {
    const ctx: Ctx = { operation: "updateLevel", userId, specialization };
    const input = await this.#prepare(ctx, async () => {
      const parsed = parseInput(inputs.updateLevelInput, { userId, specialization, newLevel, ...details }, ctx);
      const rules = await this.#rules(parsed.specialization, ctx);
      if (parsed.newLevel > rules.maxLevel) {
        throw new ValidationError(
          `updateLevel: level ${parsed.newLevel} is above ${rules.id}'s maximum level ${rules.maxLevel}`,
          [{ path: ["newLevel"], message: `must be at most ${rules.maxLevel}` }],
          ctx,
        );
      }
      return parsed;
    });
    return this.#write(ctx, call, async (tx, client, attempt) => {
      const { progress, license } = await this.#lockPair(tx, client, input.userId, input.specialization, ctx, call, attempt);
      const totalXp = this.#addXp(progress.totalXp, input.xpChange, ctx);
      const completedSessions = progress.completedSessions + input.sessionsChange;
      const maxAchievedLevel = Math.max(license.maxAchievedLevel, input.newLevel);
      const changed =
        progress.currentLevel !== input.newLevel ||
        license.currentLevel !== input.newLevel ||
        input.xpChange !== 0 ||
        input.sessionsChange !== 0;
      await this.#writeChange(tx, client, {
        progress,
        license,
        next: changed
          ? { currentLevel: input.newLevel, totalXp, completedSessions, maxAchievedLevel, reason: input.reason, actor: input.actor }
          : undefined,
        audit: {
          operation: "updateLevel",
          userId: input.userId,
          specializationId: input.specialization,
          xpDelta: input.xpChange,
          sessionsDelta: input.sessionsChange,
          fromLevel: license.currentLevel,
          toLevel: input.newLevel,
          actor: input.actor,
          outcome: changed ? "applied" : "noop",
        },
      });
      return {
        outcome: changed ? "applied" : "noop",
        result: {
          userId: input.userId,
          specialization: input.specialization,
          previousLevel: progress.currentLevel,
          newLevel: input.newLevel,
          totalXp,
          completedSessions,
          maxAchievedLevel,
          changed,
        },
      };
    });
  }

  /**
   * Awards XP and sessions; the level follows the specialization's XP curve,
   * capped at its maximum and never lowered. With an idempotency key, a
   * repeated call returns the first call's result and changes nothing; the
   * same key with a different request is refused (VALIDATION).
   */
  async levelUpAtomic(
    userId: number,
    specialization: string,
    xpGained: number,
    sessionsCompleted: number,
    idempotencyKey?: string,
    call: CallOptions = {},
  ): Promise<LevelUpResult> {
    const ctx: Ctx = { operation: "levelUp", userId, specialization };
    const { input, rules } = await this.#prepare(ctx, async () => {
      const parsed = parseInput(inputs.levelUpInput, { userId, specialization, xpGained, sessionsCompleted, idempotencyKey }, ctx);
      return { input: parsed, rules: await this.#rules(parsed.specialization, ctx) };
    });
    const actor = call.actor ?? DEFAULT_ACTOR;
    const requestHash = input.idempotencyKey
      ? hashRequest(["levelUp", input.userId, input.specialization, input.xpGained, input.sessionsCompleted])
      : undefined;
    return this.#write(ctx, call, async (tx, client, attempt) => {
      const { progress, license, stored } = await this.#lockPair(tx, client, input.userId, input.specialization, ctx, call, attempt, input.idempotencyKey);
      if (stored && requestHash) {
        const replay = this.#replay(stored, input.idempotencyKey ?? "", requestHash, ctx);
        return { outcome: "replayed", result: { ...(replay as Omit<LevelUpResult, "replayed">), replayed: true } };
      }
      const totalXp = this.#addXp(progress.totalXp, input.xpGained, ctx);
      const completedSessions = progress.completedSessions + input.sessionsCompleted;
      const floor = Math.max(progress.currentLevel, license.currentLevel);
      const newLevel = levelForXp(rules, totalXp, Math.min(floor, rules.maxLevel));
      const maxAchievedLevel = Math.max(license.maxAchievedLevel, newLevel);
      const result: LevelUpResult = {
        userId: input.userId,
        specialization: input.specialization,
        previousLevel: progress.currentLevel,
        newLevel,
        totalXp,
        completedSessions,
        maxAchievedLevel,
        leveledUp: newLevel > progress.currentLevel,
        replayed: false,
      };
      const { replayed: _replayed, ...response } = result;
      await this.#writeChange(tx, client, {
        progress,
        license,
        next: { currentLevel: newLevel, totalXp, completedSessions, maxAchievedLevel, reason: "level-up", actor },
        audit: {
          operation: "levelUp",
          userId: input.userId,
          specializationId: input.specialization,
          xpDelta: input.xpGained,
          sessionsDelta: input.sessionsCompleted,
          fromLevel: license.currentLevel,
          toLevel: newLevel,
          actor,
          idempotencyKey: input.idempotencyKey ?? null,
          outcome: "applied",
        },
        idempotency:
          input.idempotencyKey && requestHash
            ? {
                key: input.idempotencyKey,
                operation: "levelUp",
                userId: input.userId,
                specializationId: input.specialization,
                requestHash,
                response,
              }
            : undefined,
      });
      return { outcome: "applied", result };
    });
  }

  /**
   * Repairs a desynced pair from the named side: `progress` copies the
   * progress level onto the license, `license` the license level onto the
   * progress. A missing half is recreated from the other. A pair already in
   * step is left alone: a second call changes nothing and writes no history.
   */
  async syncExistingRecordsAtomic(
    userId: number,
    specialization: string,
    source: inputs.SyncSource,
    call: CallOptions = {},
  ): Promise<SyncResult> {
    const ctx: Ctx = { operation: "sync", userId, specialization };
    const input = await this.#prepare(ctx, async () => {
      const parsed = parseInput(inputs.syncInput, { userId, specialization, source }, ctx);
      await this.#rules(parsed.specialization, ctx);
      return parsed;
    });
    const actor = call.actor ?? DEFAULT_ACTOR;
    return this.#write(ctx, call, async (tx, client, attempt) => {
      const { progress, license } = await this.#lockHalves(tx, client, input.userId, input.specialization, call, attempt);
      const from = input.source === "progress" ? progress : license;
      if (!from) {
        await this.#requireUser(tx, input.userId, ctx);
        throw new NotFoundError(
          input.source,
          `sync: user ${input.userId} has no ${input.source} row in ${input.specialization} to sync from`,
          ctx,
        );
      }
      const level = from.currentLevel;
      let changed = false;
      if (!progress) {
        await tx.insert(specializationProgress).values({ studentId: input.userId, specializationId: input.specialization, currentLevel: level });
        changed = true;
      } else if (progress.currentLevel !== level) {
        await tx
          .update(specializationProgress)
          .set({ currentLevel: level, updatedAt: sql`now()` })
          .where(eq(specializationProgress.id, progress.id));
        changed = true;
      }
      if (!license) {
        const [rebuilt] = await tx
          .insert(userLicenses)
          .values({ userId: input.userId, specializationType: input.specialization, currentLevel: level, maxAchievedLevel: level })
          .returning({ id: userLicenses.id });
        // A license's history starts at level 1; record the jump so the chain ends at its level.
        if (rebuilt && level !== 1) {
          await tx.insert(licenseProgressions).values({
            userLicenseId: rebuilt.id,
            fromLevel: 1,
            toLevel: level,
            reason: "sync: license rebuilt from progress",
            actor,
          });
        }
        changed = true;
      } else if (license.currentLevel !== level) {
        await this.#faults?.afterProgressWrite?.(client);
        await tx
          .update(userLicenses)
          .set({ currentLevel: level, maxAchievedLevel: Math.max(level, license.maxAchievedLevel), updatedAt: sql`now()` })
          .where(eq(userLicenses.id, license.id));
        await tx.insert(licenseProgressions).values({
          userLicenseId: license.id,
          fromLevel: license.currentLevel,
          toLevel: level,
          reason: "sync from progress",
          actor,
        });
        changed = true;
      }
      await this.#audit(tx, {
        operation: "sync",
        userId: input.userId,
        specializationId: input.specialization,
        fromLevel: input.source === "progress" ? (license?.currentLevel ?? null) : (progress?.currentLevel ?? null),
        toLevel: level,
        actor,
        outcome: changed ? "applied" : "noop",
      });
      return {
        outcome: changed ? "applied" : "noop",
        result: {
          userId: input.userId,
          specialization: input.specialization,
          source: input.source,
          progressLevel: progress?.currentLevel ?? null,
          licenseLevel: license?.currentLevel ?? null,
          level,
          changed,
        },
      };
    });
  }

  /** Checks one pair in a single snapshot: both halves present, levels equal and in range, history contiguous. */
  async validateConsistency(userId: number, specialization: string): Promise<ConsistencyReport> {
    const ctx: Ctx = { operation: "validate", userId, specialization };
    const { input, rules } = await this.#prepare(ctx, async () => {
      const parsed = parseInput(inputs.pairInput, { userId, specialization }, ctx);
      return { input: parsed, rules: await this.#rules(parsed.specialization, ctx) };
    });
    return this.#read(ctx, async (tx) => {
      const [progress] = await tx.select().from(specializationProgress).where(progressOf(input.userId, input.specialization));
      const [license] = await tx.select().from(userLicenses).where(licenseOf(input.userId, input.specialization));
      if (!progress && !license) await this.#notEnrolled(tx, input.userId, input.specialization, ctx);
      const issues: ConsistencyIssue[] = [];
      if (!progress) issues.push({ code: "MISSING_PROGRESS", message: "the license has no progress row" });
      if (!license) issues.push({ code: "MISSING_LICENSE", message: "the progress has no license row" });
      if (progress && license && progress.currentLevel !== license.currentLevel) {
        issues.push({
          code: "LEVEL_MISMATCH",
          message: `progress is at level ${progress.currentLevel}, the license at ${license.currentLevel}`,
        });
      }
      for (const [name, lvl] of [
        ["progress", progress?.currentLevel],
        ["license", license?.currentLevel],
      ] as const) {
        if (lvl !== undefined && (lvl < 1 || lvl > rules.maxLevel)) {
          issues.push({ code: "LEVEL_OUT_OF_RANGE", message: `${name} level ${lvl} is outside 1..${rules.maxLevel}` });
        }
      }
      if (license && license.maxAchievedLevel < license.currentLevel) {
        issues.push({ code: "MAX_BELOW_CURRENT", message: "max_achieved_level is below current_level" });
      }
      if (license) {
        const chain = await tx
          .select({ fromLevel: licenseProgressions.fromLevel, toLevel: licenseProgressions.toLevel })
          .from(licenseProgressions)
          .where(eq(licenseProgressions.userLicenseId, license.id))
          .orderBy(licenseProgressions.id);
        const gap = findHistoryGap(chain, license.currentLevel);
        if (gap) issues.push({ code: "HISTORY_GAP", message: gap });
      }
      return {
        outcome: "noop",
        result: {
          userId: input.userId,
          specialization: input.specialization,
          consistent: issues.length === 0,
          issues,
          progress: progress ? toProgressState(progress) : null,
          license: license ? toLicenseState(license) : null,
        },
      };
    });
  }

  /** Both rows of a pair, read in one snapshot. */
  async get(userId: number, specialization: string): Promise<PairState> {
    const ctx: Ctx = { operation: "get", userId, specialization };
    const input = await this.#prepare(ctx, () => parseInput(inputs.pairInput, { userId, specialization }, ctx));
    return this.#read(ctx, async (tx) => {
      const [progress] = await tx.select().from(specializationProgress).where(progressOf(input.userId, input.specialization));
      const [license] = await tx.select().from(userLicenses).where(licenseOf(input.userId, input.specialization));
      if (!progress && !license) await this.#notEnrolled(tx, input.userId, input.specialization, ctx);
      if (!progress || !license) {
        throw new NotFoundError(
          progress ? "license" : "progress",
          `get: user ${input.userId} in ${input.specialization} has only half a pair; run the integrity audit and sync`,
          ctx,
        );
      }
      return { outcome: "noop", result: toPairState(progress, license) };
    });
  }

  /** A license's level changes, newest first, a page at a time. */
  async history(userId: number, specialization: string, page: { cursor?: number; limit?: number } = {}): Promise<HistoryPage> {
    const ctx: Ctx = { operation: "history", userId, specialization };
    const input = await this.#prepare(ctx, () => parseInput(inputs.historyInput, { userId, specialization, ...page }, ctx));
    return this.#read(ctx, async (tx) => {
      const [license] = await tx
        .select({ id: userLicenses.id })
        .from(userLicenses)
        .where(licenseOf(input.userId, input.specialization));
      if (!license) await this.#notEnrolled(tx, input.userId, input.specialization, ctx);
      const rows = license
        ? await tx
            .select({
              id: licenseProgressions.id,
              fromLevel: licenseProgressions.fromLevel,
              toLevel: licenseProgressions.toLevel,
              reason: licenseProgressions.reason,
              actor: licenseProgressions.actor,
              createdAt: licenseProgressions.createdAt,
            })
            .from(licenseProgressions)
            .where(
              and(
                eq(licenseProgressions.userLicenseId, license.id),
                input.cursor === undefined ? undefined : lt(licenseProgressions.id, input.cursor),
              ),
            )
            .orderBy(desc(licenseProgressions.id))
            .limit(input.limit + 1)
        : [];
      const items = rows.slice(0, input.limit);
      const last = items.at(-1);
      return { outcome: "noop", result: { items, nextCursor: rows.length > input.limit && last ? last.id : null } };
    });
  }

  // ---- internals ----

  /** Runs the checks that precede the transaction; a refusal is reported like any failed call. */
  async #prepare<T>(ctx: Ctx, checks: () => T | Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await checks();
    } catch (error) {
      const failure = toCouplerError(error, { ...ctx, lockTimeoutMs: this.#lockTimeoutMs, noWait: this.#noWait, attempts: 1 });
      this.#report(ctx, "error", failure, started, { lockWaitMs: undefined, probe: false, contended: false }, 0, 0);
      throw failure;
    }
  }

  async #rules(specialization: string, ctx: Ctx): Promise<SpecializationRules> {
    const rules = await this.catalogue.get(specialization).catch((error: unknown) => {
      throw toCouplerError(error, { ...ctx, lockTimeoutMs: this.#lockTimeoutMs, noWait: this.#noWait, attempts: 1 });
    });
    if (!rules) {
      throw new NotFoundError("specialization", `${ctx.operation}: specialization ${specialization} is not in the catalogue`, ctx);
    }
    return rules;
  }

  /** Locks progress, then license (the fixed order), and requires both. */
  async #lockPair(
    tx: Db,
    client: pg.PoolClient,
    userId: number,
    specialization: string,
    ctx: Ctx,
    call: CallOptions,
    attempt: Attempt,
    idempotencyKey?: string,
  ) {
    const { progress, license, stored } = await this.#lockHalves(tx, client, userId, specialization, call, attempt, idempotencyKey);
    if (!progress && !license) return this.#notEnrolled(tx, userId, specialization, ctx);
    if (!progress || !license) {
      const missing = progress ? "license" : "progress";
      const other = progress ? "progress" : "license";
      throw new NotFoundError(
        missing,
        `${ctx.operation}: user ${userId} in ${specialization} has no ${missing} row; repair it with sync from ${other}`,
        ctx,
      );
    }
    return { progress, license, stored };
  }

  /**
   * Locks the progress row, then the license row: two statements, always in
   * that order. With an idempotency key, the license statement also reads the
   * key's stored result (locking only the license), saving a round trip; the
   * progress lock already serialized any earlier call with the same key.
   *
   * Contention is measured, not guessed from timings: the first attempt asks
   * with NOWAIT. If the rows are held, the transaction restarts and waits
   * (bounded by lock_timeout), and the call counts as contended. Uncontended
   * calls pay nothing for this.
   */
  async #lockHalves(
    tx: Db,
    client: pg.PoolClient,
    userId: number,
    specialization: string,
    call: CallOptions,
    attempt: Attempt,
    idempotencyKey?: string,
  ) {
    const noWait = call.noWait ?? this.#noWait;
    const probing = !noWait && attempt.probe;
    const mode = noWait || probing ? "nowait" : "wait";
    const started = performance.now();
    try {
      const [progress] = await preparedFor(client, `coupler_lock_progress_${mode}`, () =>
        tx
          .select()
          .from(specializationProgress)
          .where(progressOf(sql.placeholder("userId"), sql.placeholder("specialization")))
          .for("update", mode === "nowait" ? { noWait: true } : {})
          .prepare(`coupler_lock_progress_${mode}`),
      ).execute({ userId, specialization });
      const [row] = await preparedFor(client, `coupler_lock_license_${mode}`, () =>
        tx
          .select({ license: userLicenses, stored: { requestHash: idempotencyKeys.requestHash, response: idempotencyKeys.response } })
          .from(userLicenses)
          .leftJoin(idempotencyKeys, eq(idempotencyKeys.key, sql.placeholder("key")))
          .where(licenseOf(sql.placeholder("userId"), sql.placeholder("specialization")))
          .for("update", mode === "nowait" ? { of: userLicenses, noWait: true } : { of: userLicenses })
          .prepare(`coupler_lock_license_${mode}`),
      ).execute({ userId, specialization, key: idempotencyKey ?? null });
      attempt.lockWaitMs = performance.now() - started;
      return { progress, license: row?.license, stored: row?.stored ?? undefined };
    } catch (error) {
      if (probing && sqlStateOf(error) === SqlState.lockNotAvailable) throw new LocksHeld();
      throw error;
    }
  }

  async #notEnrolled(tx: Db, userId: number, specialization: string, ctx: Ctx): Promise<never> {
    await this.#requireUser(tx, userId, ctx);
    throw new NotFoundError("enrollment", `${ctx.operation}: user ${userId} is not enrolled in ${specialization}`, ctx);
  }

  async #requireUser(tx: Db, userId: number, ctx: Ctx): Promise<void> {
    const [user] = await tx.select({ id: users.id }).from(users).where(eq(users.id, userId));
    if (!user) throw new NotFoundError("user", `${ctx.operation}: user ${userId} does not exist`, ctx);
  }

  #addXp(total: number, delta: number, ctx: Ctx): number {
    const sum = total + delta;
    if (sum > inputs.MAX_TOTAL_XP) {
      throw new ValidationError(`${ctx.operation}: total XP would exceed ${inputs.MAX_TOTAL_XP}`, [
        { path: ["xpGained"], message: "total XP would overflow" },
      ], ctx);
    }
    return sum;
  }

  /**
   * Writes a change: the progress row first, then — in one statement — the
   * license, its history row, the audit row and the idempotency record. The
   * data-modifying CTE saves round trips; the two writes stay separate so a
   * failure between them (the `afterProgressWrite` fault) can be tested.
   * With `next` undefined only the audit row is written.
   */
  async #writeChange(
    tx: Db,
    client: pg.PoolClient,
    change: {
      progress: SpecializationProgress;
      license: UserLicense;
      next:
        | { currentLevel: number; totalXp: number; completedSessions: number; maxAchievedLevel: number; reason: string; actor: string }
        | undefined;
      audit: typeof couplerAuditLog.$inferInsert;
      idempotency?: typeof idempotencyKeys.$inferInsert | undefined;
    },
  ): Promise<void> {
    const { progress, license, next } = change;
    if (next) {
      await preparedFor(client, "coupler_update_progress", () =>
        tx
          .update(specializationProgress)
          .set({
            currentLevel: sql`${sql.placeholder("currentLevel")}`,
            totalXp: sql`${sql.placeholder("totalXp")}`,
            completedSessions: sql`${sql.placeholder("completedSessions")}`,
            updatedAt: sql`now()`,
          })
          .where(eq(specializationProgress.id, sql.placeholder("id")))
          .prepare("coupler_update_progress"),
      ).execute({ id: progress.id, currentLevel: next.currentLevel, totalXp: next.totalXp, completedSessions: next.completedSessions });
      await this.#faults?.afterProgressWrite?.(client);
    }
    const levelChanged = next !== undefined && license.currentLevel !== next.currentLevel;
    const licenseChanged = next !== undefined && (levelChanged || license.maxAchievedLevel !== next.maxAchievedLevel);
    const withKey = change.idempotency !== undefined;
    // One prepared statement per shape: the license update (if any) carries the trail as CTEs.
    const name = `coupler_trail_${licenseChanged ? "license" : "audit"}${levelChanged ? "_history" : ""}${withKey ? "_key" : ""}`;
    const statement = preparedFor(client, name, () => {
      const ph = sql.placeholder;
      const trail: WithSubquery[] = [];
      if (levelChanged) {
        trail.push(
          tx.$with("history").as(
            tx.insert(licenseProgressions).values({
              userLicenseId: ph("licenseId"),
              fromLevel: ph("fromLevel"),
              toLevel: ph("currentLevel"),
              reason: ph("reason"),
              actor: ph("historyActor"),
            }),
          ),
        );
      }
      if (withKey) {
        trail.push(
          tx.$with("idempotency").as(
            tx.insert(idempotencyKeys).values({
              key: ph("key"),
              operation: ph("keyOperation"),
              userId: ph("userId"),
              specializationId: ph("specializationId"),
              requestHash: ph("requestHash"),
              response: ph("response"),
            }),
          ),
        );
      }
      const auditRow = {
        operation: ph("operation"),
        userId: ph("userId"),
        specializationId: ph("specializationId"),
        xpDelta: ph("xpDelta"),
        sessionsDelta: ph("sessionsDelta"),
        fromLevel: ph("auditFrom"),
        toLevel: ph("auditTo"),
        actor: ph("actor"),
        idempotencyKey: ph("auditKey"),
        outcome: ph("outcome"),
      };
      if (!licenseChanged) return tx.with(...trail).insert(couplerAuditLog).values(auditRow).prepare(name);
      trail.push(tx.$with("audit").as(tx.insert(couplerAuditLog).values(auditRow)));
      return tx
        .with(...trail)
        .update(userLicenses)
        .set({ currentLevel: sql`${ph("currentLevel")}`, maxAchievedLevel: sql`${ph("maxAchievedLevel")}`, updatedAt: sql`now()` })
        .where(eq(userLicenses.id, ph("licenseId")))
        .prepare(name);
    });
    const { audit } = change;
    await statement.execute({
      licenseId: license.id,
      fromLevel: license.currentLevel,
      currentLevel: next?.currentLevel ?? null,
      maxAchievedLevel: next?.maxAchievedLevel ?? null,
      reason: next?.reason ?? null,
      historyActor: next?.actor ?? null,
      key: change.idempotency?.key ?? null,
      keyOperation: change.idempotency?.operation ?? null,
      requestHash: change.idempotency?.requestHash ?? null,
      response: change.idempotency?.response ?? null,
      operation: audit.operation,
      userId: audit.userId,
      specializationId: audit.specializationId,
      xpDelta: audit.xpDelta ?? 0,
      sessionsDelta: audit.sessionsDelta ?? 0,
      auditFrom: audit.fromLevel ?? null,
      auditTo: audit.toLevel ?? null,
      actor: audit.actor,
      auditKey: audit.idempotencyKey ?? null,
      outcome: audit.outcome,
    });
  }

  async #audit(tx: Db, row: typeof couplerAuditLog.$inferInsert): Promise<void> {
    await tx.insert(couplerAuditLog).values(row);
  }

  /** The stored result of an idempotency key, or VALIDATION when the key was used for a different request. */
  #replay(stored: { requestHash: string; response: unknown }, key: string, requestHash: string, ctx: Ctx): unknown {
    if (stored.requestHash !== requestHash) {
      throw new ValidationError(
        `${ctx.operation}: idempotency key ${JSON.stringify(key)} was already used for a different request`,
        [{ path: ["idempotencyKey"], message: "already used for a different request" }],
        ctx,
      );
    }
    return stored.response;
  }

  /** Runs a write transaction with bounded retries, and reports it. */
  async #write<T>(
    ctx: Ctx,
    call: CallOptions,
    body: (tx: Db, client: pg.PoolClient, attempt: Attempt) => Promise<{ outcome: OperationOutcome; result: T }>,
  ): Promise<T> {
    const lockTimeoutMs = call.lockTimeoutMs ?? this.#lockTimeoutMs;
    return this.#run(ctx, { ...WRITE, lockTimeoutMs }, call, body);
  }

  async #read<T>(ctx: Ctx, body: (tx: Db) => Promise<{ outcome: OperationOutcome; result: T }>): Promise<T> {
    return this.#run(ctx, SNAPSHOT, {}, body);
  }

  async #run<T>(
    ctx: Ctx,
    txOptions: TransactionOptions,
    call: CallOptions,
    body: (tx: Db, client: pg.PoolClient, attempt: Attempt) => Promise<{ outcome: OperationOutcome; result: T }>,
  ): Promise<T> {
    const started = performance.now();
    let retries = 0;
    let deadlocks = 0;
    const attempt: Attempt = { lockWaitMs: undefined, probe: true, contended: false };
    for (;;) {
      attempt.lockWaitMs = undefined;
      try {
        const { outcome, result } = await runTransaction(this.#pool, txOptions, (tx, client) => body(tx, client, attempt), this.#faults);
        this.#report(ctx, outcome, undefined, started, attempt, retries, deadlocks);
        return result;
      } catch (error) {
        if (error instanceof LocksHeld) {
          // Not a retry: the same transaction again, now waiting for the locks.
          attempt.probe = false;
          attempt.contended = true;
          continue;
        }
        const state = sqlStateOf(error);
        if (state === SqlState.deadlockDetected) deadlocks++;
        if (!(error instanceof CouplerError) && isRetryable(error, state) && retries < this.#maxRetries) {
          retries++;
          await sleep(Math.random() * this.#retryBaseDelayMs * 2 ** retries);
          continue;
        }
        const failure = toCouplerError(error, {
          ...ctx,
          lockTimeoutMs: txOptions.lockTimeoutMs ?? 0,
          noWait: call.noWait ?? this.#noWait,
          attempts: retries + 1,
        });
        this.#report(ctx, "error", failure, started, attempt, retries, deadlocks);
        throw failure;
      }
    }
  }

  #report(
    ctx: Ctx,
    outcome: OperationOutcome,
    error: CouplerError | undefined,
    started: number,
    attempt: Attempt,
    retries: number,
    deadlocks: number,
  ): void {
    const durationMs = performance.now() - started;
    const event = {
      operation: ctx.operation,
      outcome,
      ...(error ? { errorCode: error.code } : {}),
      userId: ctx.userId,
      specialization: ctx.specialization,
      durationMs,
      lockWaitMs: attempt.lockWaitMs,
      contended: attempt.contended,
      retries,
      deadlocks,
    };
    try {
      this.#observer?.onOperation(event);
    } catch (observerError) {
      this.#logger.error({ err: observerError }, "coupler observer threw; event dropped");
    }
    if (!error) {
      this.#logger.info(event, `${ctx.operation} ${outcome}`);
    } else {
      const level = error.code === "DB" || error.code === "UNAVAILABLE" ? "error" : "warn";
      this.#logger[level]({ ...event, err: error }, `${ctx.operation} failed: ${error.message}`);
    }
  }
}

function isRetryable(error: unknown, state: string | undefined): boolean {
  if (state === SqlState.deadlockDetected || state === SqlState.serializationFailure) return true;
  // Two calls raced to store the same idempotency key: the retry sees the winner's result.
  if (state === SqlState.uniqueViolation) {
    const constraint = (error as { cause?: { constraint?: unknown } }).cause?.constraint ?? (error as { constraint?: unknown }).constraint;
    return constraint === "idempotency_keys_pkey";
  }
  return false;
}

function progressOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(specializationProgress.studentId, userId), eq(specializationProgress.specializationId, specialization));
}

function licenseOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(userLicenses.userId, userId), eq(userLicenses.specializationType, specialization));
}

function toProgressState(p: SpecializationProgress): ProgressState {
  return { currentLevel: p.currentLevel, totalXp: p.totalXp, completedSessions: p.completedSessions, updatedAt: p.updatedAt };
}

function toLicenseState(l: UserLicense): LicenseState {
  return { id: l.id, currentLevel: l.currentLevel, maxAchievedLevel: l.maxAchievedLevel, updatedAt: l.updatedAt };
}

function toPairState(p: SpecializationProgress, l: UserLicense): PairState {
  return { userId: p.studentId, specialization: p.specializationId, progress: toProgressState(p), license: toLicenseState(l) };
}

/** Describes the first break in a license's from→to chain, or returns undefined. The chain starts at level 1. */
export function findHistoryGap(chain: { fromLevel: number; toLevel: number }[], currentLevel: number): string | undefined {
  let level = 1;
  for (const [i, step] of chain.entries()) {
    if (step.fromLevel !== level) return `history step ${i + 1} starts at level ${step.fromLevel}, expected ${level}`;
    level = step.toLevel;
  }
  return level === currentLevel ? undefined : `history ends at level ${level} but the license is at ${currentLevel}`;
}

function hashRequest(parts: unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

