import { inputs, validated } from "@coupler/core";
import { actorOf } from "../auth.ts";
import { toJson } from "../toJson.ts";
import { adminProcedure, learnerReadProcedure, router, staffProcedure } from "../trpc.ts";

/**
 * Each procedure hands its parsed input to the coupler method of the same name.
 * Writes parse with `validated(…)`, so the coupler takes tRPC's parse instead of parsing again.
 */
export const progressionRouter = router({
  /** Creates a learner's progress and license at level 1, together. Idempotent. */
  enroll: adminProcedure
    .input(validated(inputs.enrollInput))
    .mutation(async ({ ctx, input }) => toJson(await ctx.services.coupler.enroll(input, { actor: actorOf(ctx.principal) }))),

  /** Awards XP and sessions after a session; the level follows the XP curve. The hot path. */
  levelUp: staffProcedure
    .input(validated(inputs.levelUpInput))
    .mutation(({ ctx, input }) => ctx.services.coupler.levelUp(input, { actor: actorOf(ctx.principal) })),

  /** The admin advancement flow: sets both rows to `newLevel`, with a reason in the history. */
  advance: adminProcedure
    .input(validated(inputs.advanceInput))
    .mutation(({ ctx, input }) => ctx.services.coupler.advance(input, { actor: actorOf(ctx.principal) })),

  /** Repairs a desynced pair (or a missing half) from the named side. */
  sync: adminProcedure
    .input(validated(inputs.syncInput))
    .mutation(({ ctx, input }) => ctx.services.coupler.sync(input, { actor: actorOf(ctx.principal) })),

  get: learnerReadProcedure.input(inputs.pairInput).query(async ({ ctx, input }) => toJson(await ctx.services.coupler.get(input))),

  validate: learnerReadProcedure
    .input(inputs.pairInput)
    .query(async ({ ctx, input }) => toJson(await ctx.services.coupler.validate(input))),

  /** Level changes, newest first; pass `nextCursor` back as `cursor` for the next page. */
  history: learnerReadProcedure
    .input(inputs.historyInput)
    .query(async ({ ctx, input }) => toJson(await ctx.services.coupler.history(input))),
});
