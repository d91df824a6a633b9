import { z } from "zod";
import { getGuard, runIntegrityAudit, setGuard } from "@coupler/core";
import { actorOf } from "../auth.ts";
import { toJson } from "../toJson.ts";
import { adminProcedure, rest, router } from "../trpc.ts";
import { catalogueAdminProcedures } from "./catalogue.ts";
import { guardState, integrityReport } from "./outputs.ts";

export const adminRouter = router({
  /** `putTrack` and `removeTrack`: the catalogue's tracks (catalogue.ts). */
  ...catalogueAdminProcedures,

  /** The full integrity audit: desynced pairs, missing halves, orphans, levels out of range, history gaps. */
  integrity: adminProcedure
    .meta(rest("GET", "/admin/integrity", "The full integrity audit; also refreshes the integrity gauges."))
    .input(z.object({ sampleLimit: z.number().int().min(0).max(1000).default(20) }).default({ sampleLimit: 20 }))
    .output(integrityReport)
    .query(async ({ ctx, input }) => {
      const report = await runIntegrityAudit(ctx.services.pool, { sampleLimit: input.sampleLimit });
      ctx.services.onIntegrityReport?.(report);
      return toJson(report);
    }),

  /** Whether the database refuses commits that leave a pair desynced. */
  guard: adminProcedure
    .meta(rest("GET", "/admin/guard", "Whether the database refuses commits that leave a pair desynced."))
    .output(guardState)
    .query(async ({ ctx }) => toJson(await getGuard(ctx.services.pool))),

  /** Switches the coupling guard; enabling is refused (CONFLICT) while any pair is desynced. */
  setGuard: adminProcedure
    .meta(
      rest(
        "POST",
        "/admin/setGuard",
        "Switches the coupling guard; enabling is refused (CONFLICT) while any pair is desynced.",
      ),
    )
    .input(z.object({ enabled: z.boolean() }))
    .output(guardState)
    .mutation(async ({ ctx, input }) =>
      toJson(await setGuard(ctx.services.pool, input.enabled, actorOf(ctx.principal))),
    ),
});
