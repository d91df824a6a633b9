import { eq, sql } from "drizzle-orm";
import type pg from "pg";
import { CouplerError } from "./errors/index.ts";
import { couplingGuard } from "./schema.ts";
import { runTransaction } from "./transaction.ts";

export interface GuardState {
  enabled: boolean;
  changedAt: Date;
  changedBy: string;
}

/** Switching the guard on was refused because pairs are desynced now. */
export class GuardRefusedError extends CouplerError {
  override name = "GuardRefusedError";
  readonly desynced: number;

  constructor(desynced: number) {
    super(
      "CONFLICT",
      `coupling guard not enabled: ${desynced} desynced pair(s) found; repair them (sync) and try again`,
      { operation: "setGuard", retryable: false },
    );
    this.desynced = desynced;
  }
}

export async function getGuard(pool: pg.Pool): Promise<GuardState> {
  return runTransaction(pool, { isolationLevel: "read committed", accessMode: "read only" }, async (tx) => {
    const [row] = await tx.select().from(couplingGuard).where(eq(couplingGuard.id, true));
    return {
      enabled: row?.enabled ?? false,
      changedAt: row?.changedAt ?? new Date(0),
      changedBy: row?.changedBy ?? "unknown",
    };
  });
}

/**
 * Switches the database-enforced coupling guard. Enabling refuses while any
 * pair is desynced. The check and the switch run under SHARE locks on both
 * tables, so no writer can commit a desync between them.
 */
export async function setGuard(pool: pg.Pool, enabled: boolean, actor: string): Promise<GuardState> {
  return runTransaction(
    pool,
    { isolationLevel: "read committed", accessMode: "read write", lockTimeoutMs: 10_000 },
    async (tx) => {
      await tx.select().from(couplingGuard).where(eq(couplingGuard.id, true)).for("update");
      if (enabled) {
        await tx.execute(sql`lock table specialization_progress, user_licenses in share mode`);
        const { rows } = await tx.execute<{ n: string }>(sql`
        select count(*) as n from specialization_progress p
        join user_licenses l on l.user_id = p.student_id and l.specialization_type = p.specialization_id
        where p.current_level <> l.current_level`);
        const desynced = Number(rows[0]?.n ?? 0);
        if (desynced > 0) throw new GuardRefusedError(desynced);
      }
      const [row] = await tx
        .update(couplingGuard)
        .set({ enabled, changedAt: sql`now()`, changedBy: actor })
        .where(eq(couplingGuard.id, true))
        .returning();
      if (!row) throw new Error("coupling_guard row is missing; run the migrations");
      return { enabled: row.enabled, changedAt: row.changedAt, changedBy: row.changedBy };
    },
  );
}
