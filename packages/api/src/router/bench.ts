import { inputs } from "@coupler/core";
import { legacyLevelUp, legacySync } from "@coupler/core/legacy";
import { benchAdminProcedure, benchStaffProcedure, rest, router } from "../trpc.ts";
import { legacyLevelUpResult, legacySyncResult } from "./outputs.ts";

/**
 * The legacy two-transaction write path, served only in bench mode so the
 * benchmark can compare it with the coupler over the same HTTP stack.
 */
export const benchRouter = router({
  legacyLevelUp: benchStaffProcedure
    .meta(rest("POST", "/bench/legacyLevelUp", "Bench mode only: the legacy two-transaction level-up."))
    .input(inputs.levelUpInput)
    .output(legacyLevelUpResult)
    .mutation(({ ctx, input }) =>
      legacyLevelUp(
        ctx.services.pool,
        ctx.services.coupler.catalogue,
        input.userId,
        input.specialization,
        input.xpGained,
        input.sessionsCompleted,
      ),
    ),

  /** Copies the progress level to the license in a second transaction (`source` is accepted but the legacy path only knows progress). */
  legacySync: benchAdminProcedure
    .meta(rest("POST", "/bench/legacySync", "Bench mode only: the legacy sync in a second transaction."))
    .input(inputs.syncInput)
    .output(legacySyncResult)
    .mutation(({ ctx, input }) => legacySync(ctx.services.pool, input.userId, input.specialization)),
});
