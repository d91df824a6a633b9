import { inputs, validated } from "@coupler/core";
import { actorOf } from "../auth.ts";
import { toJson } from "../toJson.ts";
import {
  advanceResult,
  consistencyReport,
  enrollResult,
  historyPage,
  levelUpResult,
  pairState,
  syncResult,
} from "./outputs.ts";
import { adminProcedure, learnerReadProcedure, rest, router, staffProcedure } from "../trpc.ts";

/**
 * Each procedure hands its parsed input to the coupler method of the same name.
 * Writes parse with `validated(…)`, so the coupler takes tRPC's parse instead of parsing again.
 */
export const progressionRouter = router({
  /** Creates a learner's progress and license at level 1, together. Idempotent. */
  enroll: adminProcedure
    .meta(
      rest("POST", "/progression/enroll", "Creates a learner's progress and license at level 1, together. Idempotent."),
    )
    .input(validated(inputs.enrollInput))
    .output(enrollResult)
    .mutation(async ({ ctx, input }) =>
      toJson(await ctx.services.coupler.enroll(input, { actor: actorOf(ctx.principal) })),
    ),

  /** Awards XP and sessions after a session; the level follows the XP curve. The hot path. */
  levelUp: staffProcedure
    .meta(
      rest(
        "POST",
        "/progression/levelUp",
        "Awards XP and sessions; the level follows the XP curve. A repeated idempotency key replays the first result.",
      ),
    )
    .input(validated(inputs.levelUpInput))
    .output(levelUpResult)
    .mutation(({ ctx, input }) => ctx.services.coupler.levelUp(input, { actor: actorOf(ctx.principal) })),

  /** The admin advancement flow: sets both rows to `newLevel`, with a reason in the history. */
  advance: adminProcedure
    .meta(rest("POST", "/progression/advance", "Sets both rows to newLevel, with a reason in the history."))
    .input(validated(inputs.advanceInput))
    .output(advanceResult)
    .mutation(({ ctx, input }) => ctx.services.coupler.advance(input, { actor: actorOf(ctx.principal) })),

  /** Repairs a desynced pair (or a missing half) from the named side. */
  sync: adminProcedure
    .meta(rest("POST", "/progression/sync", "Repairs a desynced pair (or a missing half) from the named side."))
    .input(validated(inputs.syncInput))
    .output(syncResult)
    .mutation(({ ctx, input }) => ctx.services.coupler.sync(input, { actor: actorOf(ctx.principal) })),

  get: learnerReadProcedure(inputs.pairInput)
    .meta(rest("GET", "/progression/get", "A learner's progress and license."))
    .input(inputs.pairInput)
    .output(pairState)
    .query(async ({ ctx, input }) => toJson(await ctx.services.coupler.get(input))),

  validate: learnerReadProcedure(inputs.pairInput)
    .meta(rest("GET", "/progression/validate", "Checks one pair for consistency."))
    .input(inputs.pairInput)
    .output(consistencyReport)
    .query(async ({ ctx, input }) => toJson(await ctx.services.coupler.validate(input))),

  /** Level changes, newest first; pass `nextCursor` back as `cursor` for the next page. */
  history: learnerReadProcedure(inputs.historyInput)
    .meta(
      rest(
        "GET",
        "/progression/history",
        "Level changes, newest first; pass nextCursor back as cursor for the next page.",
      ),
    )
    .input(inputs.historyInput)
    .output(historyPage)
    .query(async ({ ctx, input }) => toJson(await ctx.services.coupler.history(input))),
});
