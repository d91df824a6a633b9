import type * as inputs from "../inputs.ts";
import type { AdvanceResult, CallOptions, ConsistencyReport, Input, LevelUpResult, SyncResult } from "./types.ts";

/**
 * The seed's method names, positional as the seed had them, for callers
 * written against the seed. Each is one call of the operation it names; new
 * code calls the operations (`levelUp`, `advance`, `sync`, `validate`) with
 * one input object, and nothing in this repository calls the aliases except
 * their own tests. `ProgressLicenseCoupler` extends this class, so
 * `coupler.levelUpAtomic(...)` keeps working, typed.
 */
export abstract class SeedAliases {
  abstract levelUp(input: Input<inputs.LevelUpInput>, call?: CallOptions): Promise<LevelUpResult>;
  abstract advance(input: Input<inputs.AdvanceInput>, call?: CallOptions): Promise<AdvanceResult>;
  abstract sync(input: Input<inputs.SyncInput>, call?: CallOptions): Promise<SyncResult>;
  abstract validate(input: Input<inputs.PairInput>): Promise<ConsistencyReport>;

  /**
   * The seed's `level_up_atomic`.
   * @deprecated Call `levelUp({ userId, specialization, xpGained, sessionsCompleted, idempotencyKey }, call)`.
   */
  levelUpAtomic(
    userId: number,
    specialization: string,
    xpGained: number,
    sessionsCompleted: number,
    idempotencyKey?: string,
    call: CallOptions = {},
  ): Promise<LevelUpResult> {
    return this.levelUp({ userId, specialization, xpGained, sessionsCompleted, idempotencyKey }, call);
  }

  /**
   * The seed's `update_level_atomic`, with the actor among the details.
   * @deprecated Call `advance({ userId, specialization, newLevel, reason, xpChange, sessionsChange }, { actor })`.
   */
  updateLevelAtomic(
    userId: number,
    specialization: string,
    newLevel: number,
    details: { xpChange?: number; sessionsChange?: number; reason: string; actor: string },
    call: CallOptions = {},
  ): Promise<AdvanceResult> {
    const { actor, ...rest } = details;
    return this.advance({ userId, specialization, newLevel, ...rest }, { ...call, actor });
  }

  /**
   * The seed's `sync_existing_records_atomic`.
   * @deprecated Call `sync({ userId, specialization, source }, call)`.
   */
  syncExistingRecordsAtomic(
    userId: number,
    specialization: string,
    source: inputs.SyncSource,
    call: CallOptions = {},
  ): Promise<SyncResult> {
    return this.sync({ userId, specialization, source }, call);
  }

  /**
   * The seed's `validate_consistency`.
   * @deprecated Call `validate({ userId, specialization })`.
   */
  validateConsistency(userId: number, specialization: string): Promise<ConsistencyReport> {
    return this.validate({ userId, specialization });
  }
}
