import { and, eq, not, sql, type Placeholder, type WithSubquery } from "drizzle-orm";
import type pg from "pg";
import type { Db } from "../client.ts";
import {
  couplerAuditLog,
  idempotencyKeys,
  licenseProgressions,
  specializationProgress,
  userLicenses,
} from "../schema.ts";

export type LockMode = "wait" | "nowait";

/** Which rows a write statement touches; each shape is its own statement. */
export interface WriteShape {
  progress: boolean;
  license: boolean;
  history: boolean;
  idempotency: boolean;
}

/** Values for a write statement; the unused ones of a shape are null. */

const ph = sql.placeholder;

/**
 * The coupler's hot statements, each a named builder. A statement is built
 * once per pooled connection: Drizzle renders the SQL once, and with
 * `named` PostgreSQL parses and plans it once per connection too (about
 * 0.3 ms a statement here). Without `named` it is sent as an unnamed
 * statement every time, which is what a transaction pooler needs.
 */
export class Statements {
  readonly #cache = new WeakMap<pg.PoolClient, Map<string, unknown>>();

  constructor(readonly named: boolean) {}

  /**
   * Both rows of a pair and the stored result of an idempotency key, locked
   * in one statement in the fixed order: progress, then license (FOR UPDATE
   * OF lists them in that order, and PostgreSQL takes row marks in that
   * order). The key row is read, not locked: the progress lock already
   * serializes calls on the pair. No row when either half is missing.
   *
   * A key is the caller's key for this pair, and only while it is younger
   * than the retention: an older one is not matched, whether or not the
   * purge has run, and the same statement deletes it so the call can store
   * the key afresh.
   */
  lockPair(db: Db, client: pg.PoolClient, mode: LockMode) {
    return this.#prepared(client, `coupler_lock_pair_${mode}`, (name) => {
      const expired = db.$with("expired_key").as(db.delete(idempotencyKeys).where(and(keyOf(), not(freshKey()))));
      return db
        .with(expired)
        .select({
          progress: specializationProgress,
          license: userLicenses,
          stored: { requestHash: idempotencyKeys.requestHash, response: idempotencyKeys.response },
        })
        .from(specializationProgress)
        .innerJoin(userLicenses, licenseOf(ph("userId"), ph("specialization")))
        .leftJoin(idempotencyKeys, and(keyOf(), freshKey()))
        .where(progressOf(ph("userId"), ph("specialization")))
        .for("update", mode === "nowait" ? { of: [specializationProgress, userLicenses], noWait: true } : { of: [specializationProgress, userLicenses] })
        .prepare(name);
    });
  }

  /** The progress row alone (the path for pairs with a missing half). */
  lockProgress(db: Db, client: pg.PoolClient, mode: LockMode) {
    return this.#prepared(client, `coupler_lock_progress_${mode}`, (name) =>
      db
        .select()
        .from(specializationProgress)
        .where(progressOf(ph("userId"), ph("specialization")))
        .for("update", mode === "nowait" ? { noWait: true } : {})
        .prepare(name),
    );
  }

  /** The license row alone, taken after the progress row. */
  lockLicense(db: Db, client: pg.PoolClient, mode: LockMode) {
    return this.#prepared(client, `coupler_lock_license_${mode}`, (name) =>
      db
        .select()
        .from(userLicenses)
        .where(licenseOf(ph("userId"), ph("specialization")))
        .for("update", mode === "nowait" ? { noWait: true } : {})
        .prepare(name),
    );
  }

  /**
   * Every write of a change in one statement: the progress and license rows,
   * the history row, the idempotency record and the audit row, as
   * data-modifying CTEs around the audit insert. Every row is addressed by
   * the learner's id as well, so on Citus the statement routes to one shard. The deferred foreign keys
   * and the coupling guard check the result at COMMIT.
   */
  write(db: Db, client: pg.PoolClient, shape: WriteShape) {
    const suffix = (["progress", "license", "history", "idempotency"] as const).map((k) => (shape[k] ? k[0] : "")).join("");
    return this.#prepared(client, `coupler_write_${suffix || "audit"}`, (name) => {
      const ctes: WithSubquery[] = [];
      if (shape.progress) {
        ctes.push(
          db.$with("progress").as(
            db
              .update(specializationProgress)
              .set({
                currentLevel: sql`${ph("currentLevel")}`,
                totalXp: sql`${ph("totalXp")}`,
                completedSessions: sql`${ph("completedSessions")}`,
                updatedAt: sql`now()`,
              })
              .where(and(eq(specializationProgress.studentId, ph("userId")), eq(specializationProgress.id, ph("progressId")))),
          ),
        );
      }
      if (shape.license) {
        ctes.push(
          db.$with("license").as(
            db
              .update(userLicenses)
              .set({ currentLevel: sql`${ph("currentLevel")}`, maxAchievedLevel: sql`${ph("maxAchievedLevel")}`, updatedAt: sql`now()` })
              .where(and(eq(userLicenses.userId, ph("userId")), eq(userLicenses.id, ph("licenseId")))),
          ),
        );
      }
      if (shape.history) {
        ctes.push(
          db.$with("history").as(
            db.insert(licenseProgressions).values({
              userId: ph("userId"),
              userLicenseId: ph("licenseId"),
              fromLevel: ph("fromLevel"),
              toLevel: ph("currentLevel"),
              reason: ph("reason"),
              actor: ph("historyActor"),
            }),
          ),
        );
      }
      if (shape.idempotency) {
        ctes.push(
          db.$with("idempotency").as(
            db.insert(idempotencyKeys).values({
              key: ph("key"),
              operation: ph("keyOperation"),
              userId: ph("userId"),
              specializationId: ph("specializationId"),
              caller: ph("caller"),
              requestHash: ph("requestHash"),
              response: ph("response"),
            }),
          ),
        );
      }
      return db
        .with(...ctes)
        .insert(couplerAuditLog)
        .values({
          operation: ph("operation"),
          userId: ph("userId"),
          specializationId: ph("specializationId"),
          xpDelta: ph("xpDelta"),
          sessionsDelta: ph("sessionsDelta"),
          fromLevel: ph("auditFrom"),
          toLevel: ph("auditTo"),
          actor: ph("actor"),
          idempotencyKey: ph("auditKey"),
          outcome: ph("outcome"),
        })
        .prepare(name);
    });
  }

  /** A statement of one connection, built on first use. `name` must identify the statement's shape. */
  #prepared<T>(client: pg.PoolClient, name: string, build: (name: string) => T): T {
    let statements = this.#cache.get(client);
    if (!statements) {
      statements = new Map();
      this.#cache.set(client, statements);
    }
    let statement = statements.get(name) as T | undefined;
    if (statement === undefined) {
      // pg sends a statement named "" as the unnamed statement, parsed on every use.
      statement = build(this.named ? name : "");
      statements.set(name, statement);
    }
    return statement;
  }
}

/** The call's idempotency key in its scope: learner, specialization, caller. */
function keyOf() {
  return and(
    eq(idempotencyKeys.userId, ph("userId")),
    eq(idempotencyKeys.specializationId, ph("specialization")),
    eq(idempotencyKeys.caller, ph("caller")),
    eq(idempotencyKeys.key, ph("key")),
  );
}

/** A key stored less than the retention ago. */
function freshKey() {
  return sql`${idempotencyKeys.createdAt} > now() - make_interval(secs => ${ph("retentionMs")}::double precision / 1000)`;
}

export function progressOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(specializationProgress.studentId, userId), eq(specializationProgress.specializationId, specialization));
}

export function licenseOf(userId: number | Placeholder, specialization: string | Placeholder) {
  return and(eq(userLicenses.userId, userId), eq(userLicenses.specializationType, specialization));
}
