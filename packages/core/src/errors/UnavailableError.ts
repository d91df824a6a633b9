import { CouplerError, type CouplerErrorOptions } from "./CouplerError.ts";

/**
 * The database could not be reached, or dropped the connection. When it happens
 * during COMMIT the outcome is unknown: retry with the same idempotency key.
 * When the call got no pooled connection within its budget it never reached
 * the database: its message says "nothing was applied".
 */
export class UnavailableError extends CouplerError {
  override name = "UnavailableError";

  constructor(message: string, options: CouplerErrorOptions = {}) {
    super("UNAVAILABLE", message, { ...options, retryable: true });
  }
}
