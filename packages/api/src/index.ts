export { ROLES, actorOf, authenticate, signToken, type AuthResult, type Principal, type Role } from "./auth.ts";
export {
  createCouplerClient,
  type CouplerClient,
  type CouplerClientOptions,
  type RouterInputs,
  type RouterOutputs,
} from "./client.ts";
export { createContext, createContextInner, type Context, type Services } from "./context.ts";
export { apiConfigSchema, parseApiConfig, serverSettings, type ApiConfig } from "./config.ts";
export { CouplerTRPCError, toTRPCError, type ErrorDetails } from "./errors.ts";
export { ApiMetrics } from "./metrics.ts";
export { appRouter, createCaller, type AppRouter } from "./root.ts";
export { startServer, type RunningServer, type ServerOptions, type ServerSettings } from "./server.ts";
