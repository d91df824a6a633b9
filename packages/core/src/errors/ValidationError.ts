import { CouplerError, type CouplerErrorOptions } from "./CouplerError.ts";

export interface ValidationIssue {
  path: (string | number)[];
  message: string;
}

/** The input was refused before anything was written. */
export class ValidationError extends CouplerError {
  override name = "ValidationError";
  readonly issues: ValidationIssue[];

  constructor(message: string, issues: ValidationIssue[] = [], options: CouplerErrorOptions = {}) {
    super("VALIDATION", message, { ...options, retryable: false });
    this.issues = issues;
  }
}
