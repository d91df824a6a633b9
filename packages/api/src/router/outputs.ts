import { z } from "zod";
import type {
  AdvanceResult,
  ConsistencyReport,
  EnrollResult,
  GuardState,
  HistoryPage,
  IntegrityReport,
  LevelUpResult,
  PairState,
  SyncResult,
  Track,
} from "@coupler/core";
import type { LegacyLevelUpResult } from "@coupler/core/legacy";
import type { Jsonify } from "../toJson.ts";

/**
 * Output schemas of the procedures, for the OpenAPI document. Each one
 * `satisfies` the JSON form of the core result it describes, so a field added
 * in core and missing here fails the type check (a zod object would otherwise
 * strip it from the response).
 */

const timestamp = z.iso.datetime({ offset: true }).describe("ISO 8601 timestamp");

const progressState = z.object({
  currentLevel: z.number().int(),
  totalXp: z.number().int(),
  completedSessions: z.number().int(),
  updatedAt: timestamp,
});

const licenseState = z.object({
  id: z.number().int(),
  currentLevel: z.number().int(),
  maxAchievedLevel: z.number().int(),
  updatedAt: timestamp,
});

export const pairState = z.object({
  userId: z.number().int(),
  specialization: z.string(),
  progress: progressState,
  license: licenseState,
}) satisfies z.ZodType<Jsonify<PairState>>;

export const enrollResult = pairState.extend({
  created: z.boolean().describe("false when the learner was already enrolled (nothing changed)"),
}) satisfies z.ZodType<Jsonify<EnrollResult>>;

/** What a level-up and an advance both report about the pair after the change. */
const levelChange = z.object({
  userId: z.number().int(),
  specialization: z.string(),
  previousLevel: z.number().int(),
  newLevel: z.number().int(),
  totalXp: z.number().int(),
  completedSessions: z.number().int(),
  maxAchievedLevel: z.number().int(),
});

export const levelUpResult = levelChange.extend({
  leveledUp: z.boolean(),
  replayed: z
    .boolean()
    .describe(
      "true when an earlier call by the same caller, for the same learner and specialization, with the same idempotency key produced this result (nothing changed)",
    ),
}) satisfies z.ZodType<LevelUpResult>;

export const advanceResult = levelChange.extend({ changed: z.boolean() }) satisfies z.ZodType<AdvanceResult>;

export const syncResult = z.object({
  userId: z.number().int(),
  specialization: z.string(),
  source: z.enum(["progress", "license"]),
  progressLevel: z.number().int().nullable(),
  licenseLevel: z.number().int().nullable(),
  level: z.number().int(),
  changed: z.boolean(),
}) satisfies z.ZodType<SyncResult>;

export const consistencyReport = z.object({
  userId: z.number().int(),
  specialization: z.string(),
  consistent: z.boolean(),
  issues: z.array(
    z.object({
      code: z.enum([
        "LEVEL_MISMATCH",
        "MISSING_PROGRESS",
        "MISSING_LICENSE",
        "LEVEL_OUT_OF_RANGE",
        "MAX_BELOW_CURRENT",
        "HISTORY_GAP",
      ]),
      message: z.string(),
    }),
  ),
  progress: progressState.nullable(),
  license: licenseState.nullable(),
}) satisfies z.ZodType<Jsonify<ConsistencyReport>>;

export const historyPage = z.object({
  items: z.array(
    z.object({
      id: z.number().int(),
      fromLevel: z.number().int(),
      toLevel: z.number().int(),
      reason: z.string(),
      actor: z.string(),
      createdAt: timestamp,
    }),
  ),
  nextCursor: z.number().int().nullable().describe("pass as `cursor` for the next (older) page; null on the last page"),
}) satisfies z.ZodType<Jsonify<HistoryPage>>;

const integrityCheck = z.object({
  count: z.number().int(),
  samples: z.array(z.object({ userId: z.number().int(), specialization: z.string(), detail: z.string() })),
});

export const integrityReport = z.object({
  checkedAt: timestamp,
  pairs: z.number().int(),
  desynced: integrityCheck,
  missingLicense: integrityCheck,
  missingProgress: integrityCheck,
  orphans: integrityCheck,
  levelOutOfRange: integrityCheck,
  historyGaps: integrityCheck,
  violations: z.number().int(),
}) satisfies z.ZodType<Jsonify<IntegrityReport>>;

export const guardState = z.object({
  enabled: z.boolean(),
  changedAt: timestamp,
  changedBy: z.string(),
}) satisfies z.ZodType<Jsonify<GuardState>>;

export const createdUser = z.object({ id: z.number().int() });

export const legacyLevelUpResult = z.object({
  previousLevel: z.number().int(),
  newLevel: z.number().int(),
  totalXp: z.number().int(),
}) satisfies z.ZodType<LegacyLevelUpResult>;

export const legacySyncResult = z.object({ level: z.number().int() });

/** A track: a specialization with its XP curve (total XP per level, level 1 at 0) and its maximum level. */
export const track = z.object({
  id: z.string(),
  name: z.string(),
  maxLevel: z.number().int().describe("The highest level; levels holds 1..maxLevel"),
  levels: z
    .array(
      z.object({ level: z.number().int(), minXp: z.number().int().describe("Total XP needed to reach this level") }),
    )
    .describe("Every level with the total XP needed to reach it; level 1 needs 0"),
}) satisfies z.ZodType<Jsonify<Track>>;

export const catalogueList = z.object({ specializations: z.array(track) });
