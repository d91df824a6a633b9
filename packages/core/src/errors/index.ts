export { ConflictError } from "./ConflictError.ts";
export { CouplerError, isCouplerError, type CouplerErrorCode, type CouplerErrorContext } from "./CouplerError.ts";
export { DatabaseError } from "./DatabaseError.ts";
export { DeadlockError } from "./DeadlockError.ts";
export { LockTimeoutError } from "./LockTimeoutError.ts";
export { NotFoundError, type MissingEntity } from "./NotFoundError.ts";
export { UnavailableError } from "./UnavailableError.ts";
export { ValidationError, type ValidationIssue } from "./ValidationError.ts";
export { SqlState, isConnectionError, sqlStateOf, toCouplerError } from "./toCouplerError.ts";
