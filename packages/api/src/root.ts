import { adminRouter } from "./router/admin.ts";
import { benchRouter } from "./router/bench.ts";
import { catalogueProcedure } from "./router/catalogue.ts";
import { progressionRouter } from "./router/progression.ts";
import { usersRouter } from "./router/users.ts";
import { createCallerFactory, router } from "./trpc.ts";

export const appRouter = router({
  users: usersRouter,
  progression: progressionRouter,
  admin: adminRouter,
  catalogue: catalogueProcedure,
  bench: benchRouter,
});

export type AppRouter = typeof appRouter;

export const createCaller = createCallerFactory(appRouter);
