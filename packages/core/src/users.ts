import type pg from "pg";
import { ConflictError, SqlState, sqlStateOf, toCouplerError } from "./errors/index.ts";
import { createUserInput } from "./inputs.ts";
import { users } from "./schema.ts";
import { runTransaction } from "./transaction.ts";
import { parseInput } from "./validate.ts";

/** Creates a user. A taken email is a CONFLICT (not retryable). */
export async function createUser(pool: pg.Pool, input: { name: string; email: string }): Promise<{ id: number }> {
  const ctx = { operation: "createUser" };
  const data = parseInput(createUserInput, input, ctx);
  try {
    return await runTransaction(pool, { isolationLevel: "read committed", accessMode: "read write" }, async (tx) => {
      const [row] = await tx.insert(users).values(data).returning({ id: users.id });
      if (!row) throw new Error("insert returned no row");
      return row;
    });
  } catch (error) {
    if (sqlStateOf(error) === SqlState.uniqueViolation) {
      throw new ConflictError(`createUser: email ${data.email} is already registered`, { ...ctx, cause: error, retryable: false });
    }
    throw toCouplerError(error, { ...ctx, lockTimeoutMs: 0, noWait: false, attempts: 1 });
  }
}
