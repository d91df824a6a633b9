import type pg from "pg";
import type { Catalogue, ProgressLicenseCoupler } from "@coupler/core";
import { type LegacyHooks, legacyLevelUp, legacySync } from "@coupler/core/legacy";
import type { OpRecord, OpResult } from "./history.ts";

export interface CallVia {
  /** Run on the pool whose statement_timeout is a few milliseconds. */
  statementTimeout: boolean;
  /** Aborted when the client stops waiting (HTTP drivers cancel the request). */
  signal: AbortSignal;
}

/** How the workload reaches the system under test: core directly, the legacy path, or HTTP. */
export interface ChaosDriver {
  readonly name: string;
  /** Whether a call may be repeated with the same idempotency key (exactly-once); legacy cannot. */
  readonly retries: boolean;
  run(op: OpRecord, via: CallVia): Promise<OpResult>;
}

export interface CouplerPair {
  /** The coupler on the normal pool. */
  normal: ProgressLicenseCoupler;
  /** The same coupler over a pool with a tiny statement_timeout. */
  shortTimeout: ProgressLicenseCoupler;
}

/** Drives ProgressLicenseCoupler directly. */
export class CouplerDriver implements ChaosDriver {
  readonly name = "coupler";
  readonly retries = true;

  constructor(private readonly couplers: CouplerPair) {}

  async run(op: OpRecord, via: CallVia): Promise<OpResult> {
    const coupler = via.statementTimeout ? this.couplers.shortTimeout : this.couplers.normal;
    const call = { actor: `chaos-client-${op.client}` };
    switch (op.kind) {
      case "levelUp": {
        const r = await coupler.levelUp(
          {
            userId: op.userId,
            specialization: op.specialization,
            xpGained: op.xp ?? 0,
            sessionsCompleted: op.sessions ?? 0,
            idempotencyKey: op.key,
          },
          call,
        );
        return { totalXp: r.totalXp, newLevel: r.newLevel, replayed: r.replayed };
      }
      case "advance": {
        const r = await coupler.advance(
          { userId: op.userId, specialization: op.specialization, newLevel: op.newLevel ?? 1, reason: "chaos advance" },
          call,
        );
        return { newLevel: r.newLevel, totalXp: r.totalXp };
      }
      case "sync": {
        const r = await coupler.sync(
          { userId: op.userId, specialization: op.specialization, source: op.source ?? "progress" },
          call,
        );
        return { newLevel: r.level };
      }
      case "validate": {
        const r = await coupler.validate({ userId: op.userId, specialization: op.specialization });
        return { consistent: r.consistent, issues: r.issues.map((i) => `${i.code}: ${i.message}`) };
      }
    }
  }
}

export interface LegacyPools {
  normal: pg.Pool;
  shortTimeout: pg.Pool;
}

/**
 * Drives the legacy two-transaction path for the same workload. Core's legacy
 * module has no "advance"; it is done the seed's way: one statement sets the
 * progress level, then legacySync copies it to the license in a second
 * transaction. Validate is the coupler's read-only check.
 */
export class LegacyDriver implements ChaosDriver {
  readonly name = "legacy";
  readonly retries = false;

  constructor(
    private readonly pools: LegacyPools,
    private readonly catalogue: Catalogue,
    private readonly hooks: LegacyHooks,
    private readonly reader: ProgressLicenseCoupler,
  ) {}

  async run(op: OpRecord, via: CallVia): Promise<OpResult> {
    const pool = via.statementTimeout ? this.pools.shortTimeout : this.pools.normal;
    switch (op.kind) {
      case "levelUp": {
        const r = await legacyLevelUp(
          pool,
          this.catalogue,
          op.userId,
          op.specialization,
          op.xp ?? 0,
          op.sessions ?? 0,
          this.hooks,
        );
        return { totalXp: r.totalXp, newLevel: r.newLevel };
      }
      case "advance": {
        await pool.query(
          "update specialization_progress set current_level = $1, updated_at = now() where student_id = $2 and specialization_id = $3",
          [op.newLevel ?? 1, op.userId, op.specialization],
        );
        await this.hooks.betweenTransactions?.();
        const r = await legacySync(pool, op.userId, op.specialization);
        return { newLevel: r.level };
      }
      case "sync": {
        const r = await legacySync(pool, op.userId, op.specialization);
        return { newLevel: r.level };
      }
      case "validate": {
        const r = await this.reader.validate({ userId: op.userId, specialization: op.specialization });
        return { consistent: r.consistent, issues: r.issues.map((i) => `${i.code}: ${i.message}`) };
      }
    }
  }
}
