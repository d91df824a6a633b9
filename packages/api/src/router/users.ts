import { createUser, inputs } from "@coupler/core";
import { adminProcedure, router } from "../trpc.ts";

export const usersRouter = router({
  /** Registers a learner or staff member; a taken email is CONFLICT (not retryable). */
  create: adminProcedure
    .input(inputs.createUserInput)
    .mutation(({ ctx, input }) => createUser(ctx.services.pool, input)),
});
