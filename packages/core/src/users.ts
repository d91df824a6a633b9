import type pg from "pg";
import { ConflictError, SqlState, sqlStateOf, toCouplerError } from "./errors/index.ts";
import { createUserInput } from "./inputs.ts";
import { userEmails, users } from "./schema.ts";
import { runTransaction } from "./transaction.ts";
import { parseInput } from "./validate.ts";

/**
 * Creates a user and reserves its email, in one transaction: the `users` row
 * and its `user_emails` row (whose primary key is what makes an email
 * unique). A taken email is a CONFLICT (not retryable) and writes nothing.
 *
 * On Citus the two rows live on different shards (users by id, user_emails
 * by email), so this is usually a two-worker transaction committed with
 * two-phase commit: one more round trip to each worker than a single-shard
 * write, and the one coupler call that spans shards (SCALING.md).
 */
export async function createUser(pool: pg.Pool, input: { name: string; email: string }): Promise<{ id: number }> {
  const ctx = { operation: "createUser" };
  const data = parseInput(createUserInput, input, ctx);
  try {
    return await runTransaction(pool, { isolationLevel: "read committed", accessMode: "read write" }, async (tx) => {
      const [row] = await tx.insert(users).values(data).returning({ id: users.id });
      if (!row) throw new Error("insert returned no row");
      await tx.insert(userEmails).values({ email: data.email, userId: row.id });
      return row;
    });
  } catch (error) {
    if (sqlStateOf(error) === SqlState.uniqueViolation) {
      throw new ConflictError(`createUser: email ${data.email} is already registered`, {
        ...ctx,
        cause: error,
        retryable: false,
      });
    }
    throw toCouplerError(error, { ...ctx, lockTimeoutMs: 0, noWait: false, attempts: 1 });
  }
}
