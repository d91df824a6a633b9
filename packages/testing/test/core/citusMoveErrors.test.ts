/**
 * What coupled calls met while Citus moved shards under them (captured on
 * Citus 13.2.2, PostgreSQL 15: `pnpm chaos --citus --grow` and the
 * deploy/README.md runbook's citus_drain_node under 6 clients taking
 * `FOR UPDATE` with a 1 s lock_timeout). Each is rebuilt here as pg reports
 * it, raw and wrapped as Drizzle wraps it, and must classify as retryable,
 * never as DB.
 */
import { toCouplerError } from "@coupler/core";
import { DrizzleQueryError } from "drizzle-orm/errors";
import pg from "pg";
import { describe, expect, it } from "vitest";

const context = {
  operation: "levelUp" as const,
  userId: 5,
  specialization: "PLAYER",
  lockTimeoutMs: 1_000,
  noWait: false,
  attempts: 3,
};

/** A server error as pg's protocol parser builds it from an ErrorResponse. */
function serverError(code: string, message: string): pg.DatabaseError {
  const error = new pg.DatabaseError(message, message.length, "error");
  error.code = code;
  error.severity = "ERROR";
  return error;
}

const captured = [
  {
    when: "a write waited on the shard group Citus blocks for the switch (citus_drain_node)",
    error: serverError("55P03", "canceling statement due to lock timeout"),
    code: "LOCK_TIMEOUT",
  },
  {
    when: "the coordinator's connection to the worker died inside the transaction",
    error: serverError(
      "08006",
      "connection to the remote node postgres@127.0.0.1:42387 failed with the following error: connection not open",
    ),
    code: "UNAVAILABLE",
  },
  {
    when: "the backend serving the call was terminated (the move's worker-side kill, or an operator)",
    error: serverError("57P01", "terminating connection due to administrator command"),
    code: "UNAVAILABLE",
  },
];

describe("errors coupled calls meet during a shard move", () => {
  for (const { when, error, code } of captured) {
    it(`classifies ${error.code} (${when}) as ${code}, retryable`, () => {
      const raw = toCouplerError(error, context);
      expect(raw).toMatchObject({ code, retryable: true });
      const wrapped = toCouplerError(new DrizzleQueryError("select … for update", [], error), context);
      expect(wrapped).toMatchObject({ code, retryable: true });
    });
  }
});
