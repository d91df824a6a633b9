import { CouplerError, type CouplerErrorOptions } from "./CouplerError.ts";

export type MissingEntity = "user" | "specialization" | "enrollment" | "progress" | "license";

/** A user, specialization or enrollment the call names does not exist. */
export class NotFoundError extends CouplerError {
  override name = "NotFoundError";
  readonly entity: MissingEntity;

  constructor(entity: MissingEntity, message: string, options: CouplerErrorOptions = {}) {
    super("NOT_FOUND", message, { ...options, retryable: false });
    this.entity = entity;
  }
}
