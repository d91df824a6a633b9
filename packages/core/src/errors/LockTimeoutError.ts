import { CouplerError, type CouplerErrorOptions } from "./CouplerError.ts";

/** The pair's row locks were held by another transaction for longer than allowed. */
export class LockTimeoutError extends CouplerError {
  override name = "LockTimeoutError";
  readonly lockTimeoutMs: number;
  readonly noWait: boolean;

  constructor(message: string, details: { lockTimeoutMs: number; noWait: boolean }, options: CouplerErrorOptions = {}) {
    super("LOCK_TIMEOUT", message, { ...options, retryable: true });
    this.lockTimeoutMs = details.lockTimeoutMs;
    this.noWait = details.noWait;
  }
}
