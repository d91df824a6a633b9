import { sql } from "drizzle-orm";
import type pg from "pg";
import type { Db } from "./client.ts";
import type { ProgressLicenseCoupler, SyncResult } from "./coupler/index.ts";
import { runTransaction } from "./transaction.ts";

export interface PairRef {
  userId: number;
  specialization: string;
}

export interface IntegrityFinding extends PairRef {
  detail: string;
}

export interface IntegrityCheck {
  count: number;
  /** Up to `sampleLimit` offending pairs. */
  samples: IntegrityFinding[];
}

export interface IntegrityReport {
  checkedAt: Date;
  /** Progress rows plus licenses without progress: every pair the audit looked at. */
  pairs: number;
  /** Both halves present, levels differ. */
  desynced: IntegrityCheck;
  /** A progress row with no license. */
  missingLicense: IntegrityCheck;
  /** A license with no progress row. */
  missingProgress: IntegrityCheck;
  /** Rows whose user, or whose history's license, no longer exists. */
  orphans: IntegrityCheck;
  /** Levels outside 1..max of the specialization, or max_achieved_level below current_level. */
  levelOutOfRange: IntegrityCheck;
  /** A license whose from→to history chain is broken or does not end at its current level. */
  historyGaps: IntegrityCheck;
  /** Sum of all counts; 0 means clean. */
  violations: number;
}

const CHECKS = {
  desynced: sql`
    select p.student_id as user_id, p.specialization_id as specialization,
           'progress level ' || p.current_level || ', license level ' || l.current_level as detail
    from specialization_progress p
    join user_licenses l on l.user_id = p.student_id and l.specialization_type = p.specialization_id
    where p.current_level <> l.current_level`,
  missingLicense: sql`
    select p.student_id, p.specialization_id, 'progress without license'
    from specialization_progress p
    where not exists (select 1 from user_licenses l where l.user_id = p.student_id and l.specialization_type = p.specialization_id)`,
  missingProgress: sql`
    select l.user_id, l.specialization_type, 'license without progress'
    from user_licenses l
    where not exists (select 1 from specialization_progress p where p.student_id = l.user_id and p.specialization_id = l.specialization_type)`,
  orphans: sql`
    select p.student_id, p.specialization_id, 'progress of a missing user' from specialization_progress p
      where not exists (select 1 from users u where u.id = p.student_id)
    union all
    select l.user_id, l.specialization_type, 'license of a missing user' from user_licenses l
      where not exists (select 1 from users u where u.id = l.user_id)
    union all
    select h.user_id, '', 'history row ' || h.id || ' of missing license ' || h.user_license_id from license_progressions h
      where not exists (select 1 from user_licenses l where l.user_id = h.user_id and l.id = h.user_license_id)`,
  levelOutOfRange: sql`
    select p.student_id, p.specialization_id, 'progress level ' || p.current_level || ' outside 1..' || coalesce(s.max_level::text, '?')
    from specialization_progress p left join specializations s on s.id = p.specialization_id
    where s.id is null or p.current_level not between 1 and s.max_level
    union all
    select l.user_id, l.specialization_type,
           'license level ' || l.current_level || ' (max achieved ' || l.max_achieved_level || ') outside 1..' || coalesce(s.max_level::text, '?')
    from user_licenses l left join specializations s on s.id = l.specialization_type
    where s.id is null or l.current_level not between 1 and s.max_level
       or l.max_achieved_level not between 1 and s.max_level or l.max_achieved_level < l.current_level`,
  // The chain of a license starts at level 1 (enrollment), each step starts
  // where the previous ended, and the last ends at the current level.
  historyGaps: sql`
    with steps as (
      select h.user_id, h.user_license_id, h.id, h.from_level, h.to_level,
             coalesce(lag(h.to_level) over w, 1) as expected_from,
             row_number() over (partition by h.user_id, h.user_license_id order by h.id desc) as from_end
      from license_progressions h
      window w as (partition by h.user_id, h.user_license_id order by h.id)
    ), per_license as (
      select l.id, l.user_id, l.specialization_type, l.current_level,
             count(*) filter (where s.from_level <> s.expected_from) as breaks,
             coalesce(max(s.to_level) filter (where s.from_end = 1), 1) as last_level
      from user_licenses l left join steps s on s.user_id = l.user_id and s.user_license_id = l.id
      group by l.user_id, l.id
    )
    select user_id, specialization_type,
           breaks || ' broken step(s); history ends at level ' || last_level || ', license at ' || current_level
    from per_license where breaks > 0 or last_level <> current_level`,
} as const;

type CheckName = keyof typeof CHECKS;

/**
 * Audits every pair in one snapshot (REPEATABLE READ, read only): desynced
 * pairs, missing halves, orphans, levels out of range and history gaps.
 */
export async function runIntegrityAudit(
  pool: pg.Pool,
  options: { sampleLimit?: number } = {},
): Promise<IntegrityReport> {
  const sampleLimit = options.sampleLimit ?? 20;
  return runTransaction(pool, { isolationLevel: "repeatable read", accessMode: "read only" }, async (tx) => {
    const [pairs] = await tx
      .execute<{ n: string }>(
        sql`
      select (select count(*) from specialization_progress)
           + (select count(*) from user_licenses l where not exists (
               select 1 from specialization_progress p where p.student_id = l.user_id and p.specialization_id = l.specialization_type)) as n`,
      )
      .then((r) => r.rows);
    const report = { checkedAt: new Date(), pairs: Number(pairs?.n ?? 0), violations: 0 } as IntegrityReport;
    for (const name of Object.keys(CHECKS) as CheckName[]) {
      report[name] = await runCheck(tx, CHECKS[name], sampleLimit);
      report.violations += report[name].count;
    }
    return report;
  });
}

async function runCheck(tx: Db, query: ReturnType<typeof sql>, sampleLimit: number): Promise<IntegrityCheck> {
  // count(*) over () gives the total beside the first rows; at least one row is read so it is known.
  const { rows } = await tx.execute<{ user_id: number; specialization: string; detail: string; total: string }>(sql`
    select q.*, count(*) over () as total from (${query}) as q(user_id, specialization, detail)
    order by 1, 2 limit ${Math.max(1, sampleLimit)}`);
  return {
    count: Number(rows[0]?.total ?? 0),
    samples: rows
      .slice(0, sampleLimit)
      .map((r) => ({ userId: Number(r.user_id), specialization: r.specialization, detail: r.detail })),
  };
}

/**
 * Repairs every desynced pair, every missing half and every history chain
 * that does not end at its license's level the audit finds, one coupler
 * transaction per pair (a sync), from the named side (a missing half is
 * always rebuilt from the half that exists). Returns what each sync did. A
 * chain broken in its middle cannot be mended by appending: its sync changes
 * nothing, and the audit keeps reporting it.
 */
export async function repairDesyncs(
  coupler: ProgressLicenseCoupler,
  pool: pg.Pool,
  source: "progress" | "license",
  options: { actor?: string; limit?: number } = {},
): Promise<SyncResult[]> {
  const limit = options.limit ?? 10_000;
  const report = await runIntegrityAudit(pool, { sampleLimit: limit });
  const results: SyncResult[] = [];
  const jobs: [PairRef, "progress" | "license"][] = [
    ...report.desynced.samples.map((p): [PairRef, "progress" | "license"] => [p, source]),
    ...report.missingLicense.samples.map((p): [PairRef, "progress" | "license"] => [p, "progress"]),
    ...report.missingProgress.samples.map((p): [PairRef, "progress" | "license"] => [p, "license"]),
    ...report.historyGaps.samples.map((p): [PairRef, "progress" | "license"] => [p, source]),
  ];
  const seen = new Set<string>();
  for (const [pair, from] of jobs) {
    // A pair in two lists (desynced, and its chain short of the new level) is synced once.
    const key = `${pair.userId}\u0000${pair.specialization}`;
    if (seen.has(key)) continue;
    seen.add(key);
    results.push(
      await coupler.sync(
        { userId: pair.userId, specialization: pair.specialization, source: from },
        { actor: options.actor ?? "repair" },
      ),
    );
  }
  return results;
}
