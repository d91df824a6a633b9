import { inputs, putTrack, removeTrack, type Catalogue } from "@coupler/core";
import { adminProcedure, authedProcedure, rest } from "../trpc.ts";
import { catalogueList, track } from "./outputs.ts";

/** Every track with its XP curve and maximum level (`catalogue`, GET /api/catalogue): any signed-in caller. */
export const catalogueProcedure = authedProcedure
  .meta(
    rest(
      "GET",
      "/catalogue",
      "Every track (specialization) with its XP curve (total XP per level) and its maximum level.",
    ),
  )
  .output(catalogueList)
  .query(async ({ ctx }) => ({ specializations: await ctx.services.coupler.catalogue.tracks() }));

/**
 * Changing the catalogue: admins only (`admin.putTrack`, `admin.removeTrack`,
 * named like `admin.setGuard`). This process reloads its copy at once; other
 * processes within the catalogue's maxAgeMs (5 s), or at once for a track
 * they do not know yet.
 */
export const catalogueAdminProcedures = {
  /** Creates a track or replaces its name, curve and maximum level; lowering the cap below an enrolled learner's level is refused (CONFLICT). */
  putTrack: adminProcedure
    .meta(
      rest(
        "POST",
        "/admin/putTrack",
        "Creates a track or replaces its name, curve and maximum level. Levels run 1..max, level 1 at 0 XP, thresholds strictly increasing; " +
          "lowering the maximum below an enrolled learner's level is refused (CONFLICT, not retryable).",
      ),
    )
    .input(inputs.trackInput)
    .output(track)
    .mutation(({ ctx, input }) => thenReload(ctx.services.coupler.catalogue, putTrack(ctx.services.pool, input))),

  /** Removes a track; refused (CONFLICT) while any learner is enrolled in it. */
  removeTrack: adminProcedure
    .meta(
      rest(
        "POST",
        "/admin/removeTrack",
        "Removes a track and its levels; refused (CONFLICT, not retryable) while any learner is enrolled in it.",
      ),
    )
    .input(inputs.trackIdInput)
    .output(track)
    .mutation(({ ctx, input }) => thenReload(ctx.services.coupler.catalogue, removeTrack(ctx.services.pool, input))),
};

/** `change`'s outcome, after this process's catalogue copy is dropped: also on a failure, since a lost COMMIT's outcome is unknown. */
async function thenReload<T>(catalogue: Catalogue, change: Promise<T>): Promise<T> {
  try {
    return await change;
  } finally {
    catalogue.reload();
  }
}
