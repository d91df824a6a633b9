import type { PairInput } from "../../inputs.ts";
import type { Outcome } from "../CouplerRuntime.ts";
import type { PairTransaction } from "../PairTransaction.ts";
import { toPairState } from "../pairState.ts";
import { PendingWrites } from "../PendingWrites.ts";
import type { EnrollResult } from "../types.ts";

/**
 * Creates the progress and license rows of a learner at level 1, together,
 * locks them and writes the audit row. Enrolling an enrolled learner changes
 * nothing but its audit row (a no-op). Unlike the other writes it starts
 * from no pair, so it takes the transaction alone (its lock statements wait:
 * rows it may have just inserted are its own).
 */
export async function enroll(
  tx: PairTransaction,
  input: PairInput & { actor: string },
): Promise<Outcome<EnrollResult>> {
  // KEY SHARE: the user cannot be deleted before the pair's foreign keys are checked at COMMIT.
  await tx.requireUser(input.userId, { keyShare: true });
  const created = await tx.createPair(input);
  const pair = await tx.requirePair(input, await tx.lock(input, []));
  const outcome = created ? "applied" : "noop";
  const writes = new PendingWrites(input, pair);
  writes.apply({
    next: undefined,
    audit: {
      operation: "enroll",
      xpDelta: 0,
      sessionsDelta: 0,
      fromLevel: null,
      toLevel: pair.license.currentLevel,
      actor: input.actor,
      idempotencyKey: null,
      outcome,
    },
  });
  await tx.write(writes);
  return { outcome, result: { ...toPairState(pair.progress, pair.license), created } };
}
