import { expect } from "vitest";
import type { OperationEvent } from "@coupler/core";

/**
 * Asserts that concurrent write calls on one pair really overlapped, and met
 * where the write-combining setting makes them meet, from the observer's
 * events of those calls:
 * - combining off: every call had a transaction of its own (`batchSize` 1),
 *   and some found the pair's rows locked by another call's transaction
 *   (`contention: "row_lock"`), i.e. PostgreSQL's row locks serialized them;
 * - combining on: some waited in memory behind the pair's transaction
 *   (`contention: "queue"`) and calls shared a transaction (`batchSize` > 1).
 * Calls that ran one after another pass neither.
 */
export function expectCallsMet(events: readonly OperationEvent[], combining: { enabled: boolean }): void {
  const writes = events.filter((e) => e.batchSize !== undefined);
  expect(writes.length, "write events").toBeGreaterThan(1);
  const contention = (cause: string) => writes.filter((e) => e.contention === cause).length;
  if (combining.enabled) {
    expect(contention("queue"), "calls queued behind the pair's transaction").toBeGreaterThan(0);
    expect(Math.max(...writes.map((e) => e.batchSize ?? 0)), "largest batch").toBeGreaterThan(1);
  } else {
    expect(new Set(writes.map((e) => e.batchSize)), "batch sizes").toEqual(new Set([1]));
    expect(contention("row_lock"), "calls that waited on another's row locks").toBeGreaterThan(0);
  }
}
