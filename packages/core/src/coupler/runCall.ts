import { toCouplerError } from "../errors/index.ts";
import type { SpecializationRules } from "../specializations.ts";
import type { CouplerRuntime, OperationContext, Outcome } from "./CouplerRuntime.ts";
import type { PairTransaction } from "./PairTransaction.ts";
import { reportCall } from "./reportCall.ts";
import { ONE_STATEMENT, runAttempts, type AttemptOptions } from "./runAttempts.ts";

/** A call that runs alone in its transaction (enroll and the reads; the pair writes go through the combiner). */
export interface SingleCall {
  /** The learner: picks the connection. */
  userId: number;
  options: AttemptOptions;
  /** Lock statements fail at once rather than wait. */
  noWait: boolean;
}

/**
 * Runs one call in its own transaction through `runAttempts` (the attempt
 * loop the combiner's batches use too), reports it once, and returns its
 * result or throws its CouplerError.
 */
export async function runCall<T>(
  rt: CouplerRuntime,
  ctx: OperationContext,
  call: SingleCall,
  body: (tx: PairTransaction) => Promise<Outcome<T>>,
): Promise<T> {
  const started = performance.now();
  const attempts = await runAttempts(
    rt,
    { userId: call.userId, ctx, options: call.options, noWait: call.noWait },
    body,
  );
  const { retries, deadlocks, locks } = attempts.stats;
  if (attempts.ok) {
    reportCall(rt, ctx, { outcome: attempts.value.outcome, started, locks, retries, deadlocks });
    return attempts.value.result;
  }
  const failure = toCouplerError(attempts.error, {
    ...ctx,
    lockTimeoutMs: call.options === ONE_STATEMENT ? 0 : (call.options.lockTimeoutMs ?? 0),
    noWait: call.noWait,
    attempts: retries + 1,
  });
  reportCall(rt, ctx, { outcome: "error", error: failure, started, locks, retries, deadlocks });
  throw failure;
}

/** Runs the checks that precede the transaction; a refusal is reported like any failed call. */
export async function precheck<T>(rt: CouplerRuntime, ctx: OperationContext, checks: () => T | Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await checks();
  } catch (error) {
    const failure = toCouplerError(error, { ...ctx, lockTimeoutMs: rt.lockTimeoutMs, noWait: rt.noWait, attempts: 1 });
    const locks = { lockWaitMs: undefined, rowLocked: false };
    reportCall(rt, ctx, { outcome: "error", error: failure, started, locks, retries: 0, deadlocks: 0 });
    throw failure;
  }
}

/** A specialization's rules from the catalogue; an id it does not hold is VALIDATION (a bad input). */
export async function rulesFor(
  rt: CouplerRuntime,
  specialization: string,
  ctx: OperationContext,
): Promise<SpecializationRules> {
  return rt.catalogue.require(specialization, ctx).catch((error: unknown) => {
    throw toCouplerError(error, { ...ctx, lockTimeoutMs: rt.lockTimeoutMs, noWait: rt.noWait, attempts: 1 });
  });
}
