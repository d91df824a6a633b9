import { CouplerError, type CouplerErrorOptions } from "./CouplerError.ts";

/** Any other database failure. `sqlState` is PostgreSQL's error code, when there is one. */
export class DatabaseError extends CouplerError {
  override name = "DatabaseError";
  readonly sqlState: string | undefined;

  constructor(message: string, sqlState: string | undefined, options: CouplerErrorOptions = {}) {
    super("DB", message, { ...options, retryable: false });
    this.sqlState = sqlState;
  }
}
