import type { CreateHTTPContextOptions } from "@trpc/server/adapters/standalone";
import type { Database, IntegrityReport, Logger, ProgressLicenseCoupler } from "@coupler/core";
import type { AuthResult } from "./auth.ts";

/** Long-lived dependencies of the procedures, built once per server. */
export interface Services {
  coupler: ProgressLicenseCoupler;
  pool: Database["pool"];
  logger: Logger;
  /** Serves `bench.*` (the legacy write path) when true. Never on by default. */
  benchMode: boolean;
  /** Called with each integrity report an admin requests, so the gauges stay fresh. */
  onIntegrityReport?: (report: IntegrityReport) => void;
}

export interface Context {
  services: Services;
  auth: AuthResult;
}

/** The context without HTTP: what tests pass to `createCaller`. */
export function createContextInner(opts: { services: Services; auth: AuthResult }): Context {
  return { services: opts.services, auth: opts.auth };
}

/**
 * The adapter's context, built once per HTTP request (a batch shares it):
 * the token is verified here, so a batch verifies it once.
 */
export async function createContext(
  opts: Pick<CreateHTTPContextOptions, "req"> & {
    services: Services;
    authenticate: (header: string | undefined) => Promise<AuthResult>;
  },
): Promise<Context> {
  const auth = await opts.authenticate(opts.req.headers.authorization);
  return createContextInner({ services: opts.services, auth });
}
