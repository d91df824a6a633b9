/** An actor's idempotency key: keys are per actor, learner and specialization (the `caller` column holds the actor). */
export interface ActorKey {
  actor: string;
  key: string;
}

/** The map key of an actor's idempotency key in `LockedRows.stored`. */
export function storedKey(actor: string, key: string): string {
  return `${actor}\u0000${key}`;
}
