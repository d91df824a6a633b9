import type { Db } from "../../client.ts";
import { NotFoundError } from "../../errors/index.ts";
import type { PairInput } from "../../inputs.ts";
import { specializationProgress, userLicenses } from "../../schema.ts";
import type { Outcome } from "../CouplerRuntime.ts";
import type { PairTransaction } from "../PairTransaction.ts";
import { toPairState } from "../pairState.ts";
import { licenseOf, progressOf } from "../statements.ts";
import type { PairState } from "../types.ts";

/** Both rows of a pair, read in the caller's snapshot. */
export async function readPair(db: Db, input: PairInput) {
  const [progress] = await db
    .select()
    .from(specializationProgress)
    .where(progressOf(input.userId, input.specialization));
  const [license] = await db.select().from(userLicenses).where(licenseOf(input.userId, input.specialization));
  return { progress, license };
}

/** Both rows of a pair; NOT_FOUND when the learner is not enrolled or half the pair is missing. */
export async function get(tx: PairTransaction, input: PairInput): Promise<Outcome<PairState>> {
  const { progress, license } = await readPair(tx.db, input);
  if (!progress && !license) await tx.notEnrolled(input);
  if (!progress || !license) {
    throw new NotFoundError(
      progress ? "license" : "progress",
      `get: user ${input.userId} in ${input.specialization} has only half a pair; run the integrity audit and sync`,
      tx.ctx,
    );
  }
  return { outcome: "noop", result: toPairState(progress, license) };
}
