import { createUser, inputs } from "@coupler/core";
import { adminProcedure, rest, router } from "../trpc.ts";
import { createdUser } from "./outputs.ts";

export const usersRouter = router({
  /** Registers a learner or staff member; a taken email is CONFLICT (not retryable). */
  create: adminProcedure
    .meta(
      rest("POST", "/users/create", "Registers a learner or staff member; a taken email is CONFLICT (not retryable)."),
    )
    .input(inputs.createUserInput)
    .output(createdUser)
    .mutation(({ ctx, input }) => createUser(ctx.services.pool, input)),
});
