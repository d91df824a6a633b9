import { NotFoundError } from "../../errors/index.ts";
import type { PairInput } from "../../inputs.ts";
import type { Outcome } from "../CouplerRuntime.ts";
import type { PairTransaction } from "../PairTransaction.ts";
import { toPairState } from "../pairState.ts";
import type { PairState } from "../types.ts";

/** Both rows of a pair, in one statement; NOT_FOUND when the learner is not enrolled or half the pair is missing. */
export async function get(tx: PairTransaction, input: PairInput): Promise<Outcome<PairState>> {
  const { progress, license, userExists } = await tx.readPair(input);
  if (!progress && !license) await tx.notEnrolled(input, userExists);
  if (!progress || !license) {
    throw new NotFoundError(
      progress ? "license" : "progress",
      `get: user ${input.userId} in ${input.specialization} has only half a pair; run the integrity audit and sync`,
      tx.ctx,
    );
  }
  return { outcome: "noop", result: toPairState(progress, license) };
}
