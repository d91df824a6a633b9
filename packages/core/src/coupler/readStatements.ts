import { and, desc, eq, lt, sql } from "drizzle-orm";
import type { Db } from "../client.ts";
import {
  licenseProgressions,
  specializationProgress,
  userLicenses,
  users,
  type SpecializationProgress,
  type UserLicense,
} from "../schema.ts";
import type { HistoryEntry } from "./types.ts";
import { licenseOf, progressOf } from "./pairFilters.ts";

/** The read statements' parameters (`cursor` and `limit` for a history page only). */
export interface ReadParams {
  userId: number;
  specialization: string;
  /** The page's rows plus one (the one says whether an older page follows). */
  limit: number;
  /** Only history rows with a smaller id (the next page's cursor). */
  cursor: number;
}

/** What a read of a pair found (`PairTransaction.readPair`). */
export interface PairRead {
  progress: SpecializationProgress | undefined;
  license: UserLicense | undefined;
  userExists: boolean;
  /** The license's history steps, oldest first; empty without a license or when not asked for. */
  chain: { fromLevel: number; toLevel: number }[];
}

/** What a read of a history page found (`PairTransaction.readHistory`). */
export interface HistoryRead {
  /** Undefined when the learner has no license for the specialization. */
  licenseId: number | undefined;
  userExists: boolean;
  /** Newest first, at most the limit asked for. */
  entries: HistoryEntry[];
}

/** A placeholder whose name must be one of ReadParams's keys: a misspelt parameter does not type-check. */
const readParam = <K extends keyof ReadParams & string>(name: K) => sql.placeholder(name);

/**
 * One row to hang the pair on: the halves are left-joined to it, so the
 * statement returns a row whichever of them exist.
 */
export const ONE_ROW = sql`(values (1)) as one(n)`;

/**
 * The reads (get, validate, history) send one statement each, with no
 * transaction block around it: a statement sees one snapshot, joins and
 * subqueries included, so it reads the pair as a REPEATABLE READ
 * transaction would. Each table is filtered on its distribution column
 * (the learner's id) by the same parameter, so Citus plans the whole
 * statement as a router query on the learner's one shard (co-located
 * tables; a VALUES row, left joins and correlated or lateral subqueries
 * keep it a single task).
 *
 * Every statement also says whether the user exists (`userExists`), which
 * decides between NOT_FOUND for the user and for the enrollment when the
 * pair is missing: a primary-key lookup, cheaper than a second round trip.
 */
function userExists() {
  return sql<boolean>`exists (select 1 from ${users} where ${users.id} = ${readParam("userId")})`.mapWith(Boolean);
}

/**
 * Both halves of a pair (each null when missing) and whether the user
 * exists; with `chain`, the license's history steps too, oldest first, as
 * `[fromLevel, toLevel]` pairs (a two-dimensional int[]; empty without a
 * license or history). One row.
 */
export function readPairQuery(db: Db, chain: boolean) {
  const h = licenseProgressions;
  const steps = sql<
    [number, number][]
  >`array(select array[${h.fromLevel}, ${h.toLevel}] from ${h} where ${h.userId} = ${readParam("userId")} and ${h.userLicenseId} = ${userLicenses.id} order by ${h.id})`;
  return db
    .select({
      progress: specializationProgress,
      license: userLicenses,
      userExists: userExists(),
      ...(chain ? { chain: steps } : {}),
    })
    .from(ONE_ROW)
    .leftJoin(specializationProgress, progressOf(readParam("userId"), readParam("specialization")))
    .leftJoin(userLicenses, licenseOf(readParam("userId"), readParam("specialization")));
}

/**
 * A page of a license's history, newest first: `limit` rows (with `after`,
 * only rows older than `cursor`), each with the license's id and whether
 * the user exists. One row with a null `entry` when the page is empty, and
 * with a null `licenseId` too when there is no license. The page is a
 * lateral subquery, so its ORDER BY ... LIMIT walks the history index
 * backwards from the cursor.
 */
export function readHistoryQuery(db: Db, after: boolean) {
  const h = licenseProgressions;
  const page = db
    .select({
      id: h.id,
      fromLevel: h.fromLevel,
      toLevel: h.toLevel,
      reason: h.reason,
      actor: h.actor,
      createdAt: h.createdAt,
    })
    .from(h)
    .where(
      and(
        eq(h.userId, readParam("userId")),
        eq(h.userLicenseId, userLicenses.id),
        after ? lt(h.id, readParam("cursor")) : undefined,
      ),
    )
    .orderBy(desc(h.id))
    .limit(readParam("limit"))
    .as("page");
  return db
    .select({
      userExists: userExists(),
      licenseId: userLicenses.id,
      entry: {
        id: page.id,
        fromLevel: page.fromLevel,
        toLevel: page.toLevel,
        reason: page.reason,
        actor: page.actor,
        createdAt: page.createdAt,
      },
    })
    .from(ONE_ROW)
    .leftJoin(userLicenses, licenseOf(readParam("userId"), readParam("specialization")))
    .leftJoinLateral(page, sql`true`)
    .orderBy(desc(page.id));
}
