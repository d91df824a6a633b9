import type pg from "pg";

/** A contiguous range of seeded learner ids. */
export interface LearnerRange {
  first: number;
  count: number;
}

/**
 * Inserts `count` learners, each enrolled in `specialization` at level 1
 * (progress and license written together, so the deferred mutual foreign keys
 * and the coupling guard hold). One INSERT … SELECT per table: seeding 20,000
 * learners takes about a second, where enrolling them one call at a time
 * would take minutes.
 */
export async function seedLearners(
  pool: pg.Pool,
  count: number,
  label: string,
  specialization = "PLAYER",
): Promise<LearnerRange> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    // bigint ids come back as strings from pg; the range is read as numbers below.
    const { rows } = await client.query<{ first: string; last: string; n: string }>(
      `WITH u AS (
         INSERT INTO users (name, email)
         SELECT 'Bench learner ' || g, 'bench-' || $1::text || '-' || g || '@bench.test' FROM generate_series(1, $2::int) g
         RETURNING id)
       SELECT min(id) AS first, max(id) AS last, count(*) AS n FROM u`,
      [`${label}-${Date.now()}`, count],
    );
    const range = rows[0] && { first: Number(rows[0].first), last: Number(rows[0].last) };
    // Identity values of one INSERT in one session come out consecutive; the k6 scripts rely on it.
    if (!range || range.last - range.first + 1 !== count)
      throw new Error(`seeded learner ids are not contiguous: ${JSON.stringify(range)}`);
    await client.query(
      `INSERT INTO specialization_progress (student_id, specialization_id) SELECT id, $3 FROM users WHERE id BETWEEN $1 AND $2`,
      [range.first, range.last, specialization],
    );
    await client.query(
      `INSERT INTO user_licenses (user_id, specialization_type) SELECT id, $3 FROM users WHERE id BETWEEN $1 AND $2`,
      [range.first, range.last, specialization],
    );
    await client.query("COMMIT");
    return { first: range.first, count };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
