import type pg from "pg";
import { runTransaction } from "@coupler/core";
import { pairKey } from "./history.ts";

export interface AuditRow {
  id: number;
  operation: string;
  xpDelta: number;
  sessionsDelta: number;
  fromLevel: number | null;
  toLevel: number | null;
  idempotencyKey: string | null;
  outcome: string;
}

export interface PairSnapshot {
  userId: number;
  specialization: string;
  maxLevel: number;
  progress: { level: number; totalXp: number; sessions: number } | undefined;
  license: { id: number; level: number; maxAchieved: number } | undefined;
  /** license_progressions of the license, oldest first. */
  history: { fromLevel: number; toLevel: number }[];
  /** coupler_audit_log rows of the pair, oldest first. */
  audit: AuditRow[];
}

export interface StoredKey {
  key: string;
  userId: number;
  specialization: string;
  totalXp: number | undefined;
}

/** Everything the checker reads, from one REPEATABLE READ snapshot. */
export interface DbSnapshot {
  pairs: Map<string, PairSnapshot>;
  keys: Map<string, StoredKey>;
  /** Idempotency keys with more than one audit row. */
  duplicateAuditKeys: { key: string; count: number }[];
}

/**
 * Reads the chaos learners' rows in one read-only REPEATABLE READ
 * transaction, so every check sees a single committed state even while the
 * workload is writing.
 */
export async function readSnapshot(
  pool: pg.Pool,
  pairs: { userId: number; specialization: string }[],
): Promise<DbSnapshot> {
  const userIds = [...new Set(pairs.map((p) => p.userId))];
  return runTransaction(pool, { isolationLevel: "repeatable read", accessMode: "read only" }, async (_tx, client) => {
    // bigint columns (ids, learner ids since migration 0004) arrive as strings; read as numbers below.
    const q = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = [userIds]) =>
      (await client.query<R>(text, values)).rows;
    const specs = await q<{ id: string; max_level: number }>("select id, max_level from specializations", []);
    const progress = await q<{
      student_id: string;
      specialization_id: string;
      current_level: number;
      total_xp: string;
      completed_sessions: number;
    }>(
      "select student_id, specialization_id, current_level, total_xp, completed_sessions from specialization_progress where student_id = any($1)",
    );
    const licenses = await q<{
      id: string;
      user_id: string;
      specialization_type: string;
      current_level: number;
      max_achieved_level: number;
    }>(
      "select id, user_id, specialization_type, current_level, max_achieved_level from user_licenses where user_id = any($1)",
    );
    const history = await q<{ user_license_id: string; from_level: number; to_level: number }>(
      `select h.user_license_id, h.from_level, h.to_level from license_progressions h
       join user_licenses l on l.user_id = h.user_id and l.id = h.user_license_id where l.user_id = any($1) order by h.id`,
    );
    const audit = await q<{
      id: string;
      operation: string;
      user_id: string;
      specialization_id: string;
      xp_delta: string;
      sessions_delta: number;
      from_level: number | null;
      to_level: number | null;
      idempotency_key: string | null;
      outcome: string;
    }>(
      `select id, operation, user_id, specialization_id, xp_delta, sessions_delta, from_level, to_level, idempotency_key, outcome
       from coupler_audit_log where user_id = any($1) order by id`,
    );
    const keys = await q<{ key: string; user_id: string; specialization_id: string; response: { totalXp?: unknown } }>(
      "select key, user_id, specialization_id, response from idempotency_keys where user_id = any($1)",
    );
    const duplicates = await q<{ key: string; n: string }>(
      `select idempotency_key as key, count(*) as n from coupler_audit_log
       where idempotency_key is not null and outcome = 'applied' group by idempotency_key having count(*) > 1`,
      [],
    );

    const maxLevel = new Map(specs.map((s) => [s.id, s.max_level]));
    const snapshot: DbSnapshot = {
      pairs: new Map(),
      keys: new Map(),
      duplicateAuditKeys: duplicates.map((d) => ({ key: d.key, count: Number(d.n) })),
    };
    for (const p of pairs) {
      snapshot.pairs.set(pairKey(p.userId, p.specialization), {
        ...p,
        maxLevel: maxLevel.get(p.specialization) ?? 0,
        progress: undefined,
        license: undefined,
        history: [],
        audit: [],
      });
    }
    const pairOf = (userId: number, specialization: string) => snapshot.pairs.get(pairKey(userId, specialization));
    for (const r of progress) {
      const pair = pairOf(Number(r.student_id), r.specialization_id);
      if (pair) pair.progress = { level: r.current_level, totalXp: Number(r.total_xp), sessions: r.completed_sessions };
    }
    const byLicense = new Map<number, PairSnapshot>();
    for (const r of licenses) {
      const pair = pairOf(Number(r.user_id), r.specialization_type);
      if (!pair) continue;
      pair.license = { id: Number(r.id), level: r.current_level, maxAchieved: r.max_achieved_level };
      byLicense.set(Number(r.id), pair);
    }
    for (const r of history)
      byLicense.get(Number(r.user_license_id))?.history.push({ fromLevel: r.from_level, toLevel: r.to_level });
    for (const r of audit) {
      pairOf(Number(r.user_id), r.specialization_id)?.audit.push({
        id: Number(r.id),
        operation: r.operation,
        xpDelta: Number(r.xp_delta),
        sessionsDelta: r.sessions_delta,
        fromLevel: r.from_level,
        toLevel: r.to_level,
        idempotencyKey: r.idempotency_key,
        outcome: r.outcome,
      });
    }
    for (const r of keys) {
      const totalXp = typeof r.response.totalXp === "number" ? r.response.totalXp : undefined;
      snapshot.keys.set(r.key, { key: r.key, userId: Number(r.user_id), specialization: r.specialization_id, totalXp });
    }
    return snapshot;
  });
}
