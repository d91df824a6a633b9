import { CouplerError, type CouplerErrorOptions } from "./CouplerError.ts";

/**
 * The database could not be reached, or dropped the connection. When it happens
 * during COMMIT the outcome is unknown: retry with the same idempotency key.
 */
export class UnavailableError extends CouplerError {
  override name = "UnavailableError";

  constructor(message: string, options: CouplerErrorOptions = {}) {
    super("UNAVAILABLE", message, { ...options, retryable: true });
  }
}
