import { and, eq, gt, sql } from "drizzle-orm";
import type pg from "pg";
import type { Track } from "./catalogue.ts";
import type { Db } from "./client.ts";
import { CouplerError, NotFoundError, SqlState, sqlStateOf, toCouplerError } from "./errors/index.ts";
import { isDistributed } from "./idempotency.ts";
import { trackIdInput, trackInput, type TrackInput } from "./inputs.ts";
import { specializationLevels, specializations } from "./schema.ts";
import { runTransaction, type TransactionOptions } from "./transaction.ts";
import { parseInput } from "./validate.ts";

/** A catalogue change refused because learners hold levels it would take away. */
export class TrackInUseError extends CouplerError {
  override name = "TrackInUseError";
  /** Learners (progress or license rows) in the way. */
  readonly learners: number;

  constructor(message: string, learners: number, options: { operation: string; cause?: unknown }) {
    super("CONFLICT", message, { ...options, retryable: false });
    this.learners = learners;
  }
}

export interface TrackWriteOptions {
  /**
   * Longest wait for a row lock, in ms (default 2000). The writes touch only
   * catalogue rows, and level-ups never wait on them (see putTrack), so a
   * wait this long means another catalogue change is in flight.
   */
  lockTimeoutMs?: number;
}

const DEFAULT_LOCK_TIMEOUT_MS = 2000;

/**
 * Creates a track, or replaces an existing one's name, curve and maximum
 * level (`input`: see `inputs.trackInput`), in one transaction. Returns the
 * track as stored.
 *
 * Safe under load: it locks the track's `specializations` row and the level
 * rows it updates with FOR NO KEY UPDATE, which the foreign-key checks of
 * level-ups (FOR KEY SHARE) do not wait for, so a curve change never blocks
 * a level-up. Only lowering the maximum deletes level rows, and it is
 * refused while any learner's progress, license or highest level is above
 * the new maximum (TrackInUseError, CONFLICT, not retryable); a learner who
 * reaches such a level during the change makes the delete fail its foreign
 * key, reported the same way. Learners keep their level when thresholds
 * change: a level-up never demotes.
 *
 * Coupler processes hold the catalogue in memory: call `reload()` on the
 * writer's own `Catalogue`; others see the change within their
 * `CatalogueOptions.maxAgeMs` (5 s by default).
 *
 * On Citus, `specializations` and `specialization_levels` are reference
 * tables: the coordinator writes every copy in one two-phase commit. The
 * transaction runs in sequential mode (one connection per worker), which
 * Citus needs to modify a reference table that distributed tables' foreign
 * keys point at after reading those tables in the same transaction.
 *
 * @throws ValidationError for a malformed track (nothing is written);
 *   TrackInUseError as above; LockTimeoutError when another catalogue change
 *   holds the rows longer than `options.lockTimeoutMs`; UnavailableError/DatabaseError from the database.
 */
export async function putTrack(pool: pg.Pool, input: TrackInput, options: TrackWriteOptions = {}): Promise<Track> {
  const ctx = { operation: "putTrack" };
  const track = parseInput(trackInput, input, ctx);
  const maxLevel = track.levels.length;
  return write(ctx, pool, options, async (tx) => {
    await tx
      .insert(specializations)
      .values({ id: track.id, name: track.name, maxLevel })
      .onConflictDoUpdate({ target: specializations.id, set: { name: track.name, maxLevel } });
    const above = await learnersAbove(tx, track.id, maxLevel);
    if (above > 0) {
      throw new TrackInUseError(
        `putTrack: cannot lower ${track.id}'s maximum level to ${maxLevel}: ${above} learner row(s) hold a level above it`,
        above,
        ctx,
      );
    }
    await tx
      .delete(specializationLevels)
      .where(and(eq(specializationLevels.specializationId, track.id), gt(specializationLevels.level, maxLevel)));
    await tx
      .insert(specializationLevels)
      .values(track.levels.map((l) => ({ specializationId: track.id, level: l.level, minXp: l.minXp })))
      .onConflictDoUpdate({
        target: [specializationLevels.specializationId, specializationLevels.level],
        set: { minXp: sql`excluded.min_xp` },
        // Rows whose threshold is unchanged are not rewritten (no lock, no new tuple).
        setWhere: sql`${specializationLevels.minXp} is distinct from excluded.min_xp`,
      });
    return { id: track.id, name: track.name, maxLevel, levels: track.levels };
  });
}

/**
 * Removes a track and its levels. Refused while any learner is enrolled in
 * it (TrackInUseError, CONFLICT, not retryable); an enrolment committed
 * during the removal makes its foreign key fail, reported the same way.
 * Returns the removed track.
 *
 * @throws ValidationError for a malformed id; NotFoundError when no such
 *   track exists; TrackInUseError; LockTimeoutError; database errors.
 */
export async function removeTrack(
  pool: pg.Pool,
  input: { id: string },
  options: TrackWriteOptions = {},
): Promise<Track> {
  const ctx = { operation: "removeTrack" };
  const { id } = parseInput(trackIdInput, input, ctx);
  return write(ctx, pool, options, async (tx) => {
    const [row] = await tx.select().from(specializations).where(eq(specializations.id, id)).for("update");
    if (!row)
      throw new NotFoundError("specialization", `removeTrack: specialization ${id} is not in the catalogue`, ctx);
    const enrolled = await learnersAbove(tx, id, 0);
    if (enrolled > 0) {
      throw new TrackInUseError(
        `removeTrack: ${id} has ${enrolled} enrolled learner row(s); a track is removed only when nobody is enrolled`,
        enrolled,
        ctx,
      );
    }
    const levels = await tx
      .delete(specializationLevels)
      .where(eq(specializationLevels.specializationId, id))
      .returning({ level: specializationLevels.level, minXp: specializationLevels.minXp });
    await tx.delete(specializations).where(eq(specializations.id, id));
    levels.sort((a, b) => a.level - b.level);
    return { id, name: row.name, maxLevel: row.maxLevel, levels };
  });
}

/** Progress and license rows of track `id` whose level (or highest level) is above `level`. */
async function learnersAbove(tx: Db, id: string, level: number): Promise<number> {
  // Two plain statements rather than one with two subqueries: each is one multi-shard query on Citus.
  const progress = await tx.execute<{ n: string }>(
    sql`select count(*) as n from specialization_progress where specialization_id = ${id} and current_level > ${level}`,
  );
  const licenses = await tx.execute<{ n: string }>(
    sql`select count(*) as n from user_licenses where specialization_type = ${id} and max_achieved_level > ${level}`,
  );
  return Number(progress.rows[0]?.n ?? 0) + Number(licenses.rows[0]?.n ?? 0);
}

async function write<T>(
  ctx: { operation: string },
  pool: pg.Pool,
  options: TrackWriteOptions,
  body: (tx: Db) => Promise<T>,
): Promise<T> {
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const tx: TransactionOptions = { isolationLevel: "read committed", accessMode: "read write", lockTimeoutMs };
  try {
    return await runTransaction(pool, tx, async (tx, client) => {
      if (await isDistributed(client, "specializations")) {
        await client.query("set local citus.multi_shard_modify_mode = 'sequential'");
      }
      return body(tx);
    });
  } catch (error) {
    if (sqlStateOf(error) === SqlState.foreignKeyViolation) {
      throw new TrackInUseError(
        `${ctx.operation}: a learner enrolled in or reached a level this change removes while it ran; nothing changed`,
        1,
        { ...ctx, cause: error },
      );
    }
    throw toCouplerError(error, { ...ctx, lockTimeoutMs, noWait: false, attempts: 1 });
  }
}
