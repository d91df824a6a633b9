import { z } from "zod";
import { getGuard, runIntegrityAudit, setGuard } from "@coupler/core";
import { actorOf } from "../auth.ts";
import { toJson } from "../toJson.ts";
import { adminProcedure, router } from "../trpc.ts";

export const adminRouter = router({
  /** The full integrity audit: desynced pairs, missing halves, orphans, levels out of range, history gaps. */
  integrity: adminProcedure
    .input(z.object({ sampleLimit: z.number().int().min(0).max(1000).default(20) }).default({ sampleLimit: 20 }))
    .query(async ({ ctx, input }) => {
      const report = await runIntegrityAudit(ctx.services.pool, { sampleLimit: input.sampleLimit });
      ctx.services.onIntegrityReport?.(report);
      return toJson(report);
    }),

  /** Whether the database refuses commits that leave a pair desynced. */
  guard: adminProcedure.query(async ({ ctx }) => toJson(await getGuard(ctx.services.pool))),

  /** Switches the coupling guard; enabling is refused (CONFLICT) while any pair is desynced. */
  setGuard: adminProcedure
    .input(z.object({ enabled: z.boolean() }))
    .mutation(async ({ ctx, input }) => toJson(await setGuard(ctx.services.pool, input.enabled, actorOf(ctx.principal)))),
});
