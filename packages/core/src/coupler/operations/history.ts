import { and, desc, eq, lt } from "drizzle-orm";
import type { HistoryInput } from "../../inputs.ts";
import { licenseProgressions, userLicenses } from "../../schema.ts";
import type { Outcome } from "../CouplerRuntime.ts";
import type { PairTransaction } from "../PairTransaction.ts";
import { licenseOf } from "../statements.ts";
import type { HistoryPage } from "../types.ts";

/** A license's level changes, newest first, a page at a time. */
export async function history(
  tx: PairTransaction,
  input: Required<Omit<HistoryInput, "cursor">> & Pick<HistoryInput, "cursor">,
): Promise<Outcome<HistoryPage>> {
  const { db } = tx;
  const [license] = await db
    .select({ id: userLicenses.id })
    .from(userLicenses)
    .where(licenseOf(input.userId, input.specialization));
  if (!license) return tx.notEnrolled(input);
  const rows = await db
    .select({
      id: licenseProgressions.id,
      fromLevel: licenseProgressions.fromLevel,
      toLevel: licenseProgressions.toLevel,
      reason: licenseProgressions.reason,
      actor: licenseProgressions.actor,
      createdAt: licenseProgressions.createdAt,
    })
    .from(licenseProgressions)
    .where(
      and(
        eq(licenseProgressions.userId, input.userId),
        eq(licenseProgressions.userLicenseId, license.id),
        input.cursor === undefined ? undefined : lt(licenseProgressions.id, input.cursor),
      ),
    )
    .orderBy(desc(licenseProgressions.id))
    .limit(input.limit + 1);
  const items = rows.slice(0, input.limit);
  const last = items.at(-1);
  return { outcome: "noop", result: { items, nextCursor: rows.length > input.limit && last ? last.id : null } };
}
