import { eq } from "drizzle-orm";
import { NotFoundError } from "../../errors/index.ts";
import type { PairInput } from "../../inputs.ts";
import { couplerAuditLog, specializationProgress, userLicenses, users } from "../../schema.ts";
import { lockPair } from "../lockPair.ts";
import { toPairState } from "../pairState.ts";
import type { Outcome, WriteTx } from "../runOperation.ts";
import type { EnrollResult } from "../types.ts";

/**
 * Creates the progress and license rows of a learner at level 1, together,
 * and locks them. Enrolling an enrolled learner changes nothing. Unlike the
 * other writes it starts from no pair, so it takes the transaction alone.
 */
export async function enroll(tx: WriteTx, input: PairInput & { actor: string }): Promise<Outcome<EnrollResult>> {
  const { db } = tx;
  const [user] = await db.select({ id: users.id }).from(users).where(eq(users.id, input.userId)).for("key share");
  if (!user) throw new NotFoundError("user", `enroll: user ${input.userId} does not exist`, tx.ctx);
  const progress = await db
    .insert(specializationProgress)
    .values({ studentId: input.userId, specializationId: input.specialization })
    .onConflictDoNothing()
    .returning();
  const license = await db
    .insert(userLicenses)
    .values({ userId: input.userId, specializationType: input.specialization })
    .onConflictDoNothing()
    .returning();
  const created = progress.length > 0 || license.length > 0;
  // Waits rather than probing: rows it may have just inserted are its own.
  const pair = await lockPair({ ...tx, call: { ...tx.call, noWait: false } }, input);
  const outcome = created ? "applied" : "noop";
  await db.insert(couplerAuditLog).values({
    operation: "enroll",
    userId: input.userId,
    specializationId: input.specialization,
    fromLevel: null,
    toLevel: pair.license.currentLevel,
    actor: input.actor,
    outcome,
  });
  return { outcome, result: { ...toPairState(pair.progress, pair.license), created } };
}
