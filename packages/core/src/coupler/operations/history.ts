import type { HistoryInput } from "../../inputs.ts";
import type { Outcome } from "../CouplerRuntime.ts";
import type { PairTransaction } from "../PairTransaction.ts";
import type { HistoryPage } from "../types.ts";

/** A license's level changes, newest first, a page at a time, read in one statement. */
export async function history(
  tx: PairTransaction,
  input: Required<Omit<HistoryInput, "cursor">> & Pick<HistoryInput, "cursor">,
): Promise<Outcome<HistoryPage>> {
  // One row more than the page: it says whether an older page follows.
  const { licenseId, userExists, entries } = await tx.readHistory(input, {
    limit: input.limit + 1,
    cursor: input.cursor,
  });
  if (licenseId === undefined) return tx.notEnrolled(input, userExists);
  const items = entries.slice(0, input.limit);
  const last = items.at(-1);
  return { outcome: "noop", result: { items, nextCursor: entries.length > input.limit && last ? last.id : null } };
}
