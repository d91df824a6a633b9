import { CouplerError, type CouplerErrorOptions } from "./CouplerError.ts";

/**
 * Too many calls are already waiting for the same pair in this process (the
 * write-combining queue is full). Nothing was changed; retry after a moment.
 */
export class OverloadedError extends CouplerError {
  override name = "OverloadedError";
  /** The queue bound that was reached (calls waiting per pair). */
  readonly maxQueuePerPair: number;

  constructor(message: string, maxQueuePerPair: number, options: CouplerErrorOptions = {}) {
    super("OVERLOADED", message, { ...options, retryable: true });
    this.maxQueuePerPair = maxQueuePerPair;
  }
}
