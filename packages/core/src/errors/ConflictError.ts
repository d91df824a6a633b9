import { CouplerError, type CouplerErrorOptions } from "./CouplerError.ts";

/** A concurrent transaction won; the same call may succeed when retried. */
export class ConflictError extends CouplerError {
  override name = "ConflictError";

  constructor(message: string, options: CouplerErrorOptions = {}) {
    super("CONFLICT", message, { retryable: true, ...options });
  }
}
