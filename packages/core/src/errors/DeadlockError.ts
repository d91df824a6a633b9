import { CouplerError, type CouplerErrorOptions } from "./CouplerError.ts";

/** PostgreSQL broke a deadlock by aborting this transaction, on every attempt. */
export class DeadlockError extends CouplerError {
  override name = "DeadlockError";
  readonly attempts: number;

  constructor(message: string, attempts: number, options: CouplerErrorOptions = {}) {
    super("DEADLOCK", message, { ...options, retryable: true });
    this.attempts = attempts;
  }
}
