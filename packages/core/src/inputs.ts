import { z } from "zod";
import { useCouplerIssueMessages } from "./issueMessages.ts";
import type { Specialization } from "./specializations.ts";

useCouplerIssueMessages();

/**
 * Input schemas shared by the coupler and the API, so both refuse the same
 * things with the same messages.
 */

/** Largest XP one call may award, and largest total XP a learner may hold. */
export const MAX_XP_PER_CALL = 1_000_000;
export const MAX_SESSIONS_PER_CALL = 1_000;
export const MAX_TOTAL_XP = Number.MAX_SAFE_INTEGER;

export const userId = z.number().int().positive().max(2_147_483_647);
/** The highest maximum level a track may have. */
export const MAX_LEVEL = 1_000;
/**
 * A specialization id: the seed's three as a hint to typed callers, any
 * other string accepted by the type. Which ids exist is the catalogue's
 * business, checked at run time (an id not in it is refused with VALIDATION).
 */
export type SpecializationId = Specialization | (string & {});
const SPECIALIZATION_RULE =
  "specialization must be 1 to 64 characters: upper-case letters, digits and underscores, starting with a letter";
/** An id's shape only; whether the catalogue holds it is checked against the catalogue. */
export const specialization: z.ZodType<SpecializationId, SpecializationId> = z
  .string({ error: () => SPECIALIZATION_RULE })
  .regex(/^[A-Z][A-Z0-9_]{0,63}$/, SPECIALIZATION_RULE)
  .describe(
    "A specialization id from the catalogue (GET /api/catalogue); the seed's are PLAYER, COACH and INTERNSHIP.",
  );
export const level = z.number().int().min(1, "level must be at least 1").max(MAX_LEVEL);
export const xpAmount = z.number().int().min(0, "XP must not be negative").max(MAX_XP_PER_CALL);
export const sessionsAmount = z.number().int().min(0, "sessions must not be negative").max(MAX_SESSIONS_PER_CALL);
/** Idempotency keys: 1 to this many characters, as the payment APIs that made the pattern common allow (Stripe: 255). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
const KEY_RULE = `idempotency key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters without spaces`;
/**
 * A caller's key for "apply this once": 1 to 255 printable ASCII characters
 * (U+0021 to U+007E; "k1", a session id such as "4411", a UUID). It belongs to
 * the learner, the specialization and the caller (the token's role and user):
 * the same key from another caller or for another pair is another key. Within
 * the retention (COUPLER_IDEMPOTENCY_RETENTION_MS, 24 h by default) a repeat
 * with the same input replays the first result (`replayed: true`) and changes
 * nothing; with a different input it is refused (VALIDATION).
 */
export const idempotencyKey = z
  .string()
  .min(1, KEY_RULE)
  .max(MAX_IDEMPOTENCY_KEY_LENGTH, KEY_RULE)
  .regex(/^[\x21-\x7e]*$/, KEY_RULE)
  .describe(
    `Optional. 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters, no spaces (e.g. a session id). ` +
      "Scoped to (learner, specialization, caller): the same key from another caller, or for another pair, is another key. " +
      "Within the retention (COUPLER_IDEMPOTENCY_RETENTION_MS, 24 h by default) a repeat with the same input replays the first result " +
      "(replayed: true) and changes nothing; with a different input it is refused (VALIDATION).",
  );
/** Free text for a text column. PostgreSQL text cannot hold U+0000, so it is refused here (a 400) rather than by the database (a 500). */
const text = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !s.includes("\u0000"), "must not contain the NUL character (U+0000)");
export const reason = text(500);
export const actor = text(200);
export const syncSource = z.enum(["progress", "license"]);

export const pairInput = z.object({ userId, specialization });
export const enrollInput = pairInput;
export const levelUpInput = z.object({
  userId,
  specialization,
  xpGained: xpAmount,
  sessionsCompleted: sessionsAmount,
  idempotencyKey: idempotencyKey.optional(),
});
/** Sets both rows to `newLevel` (the admin advancement), optionally adding XP and sessions. */
export const advanceInput = z.object({
  userId,
  specialization,
  newLevel: level,
  reason,
  xpChange: xpAmount.default(0),
  sessionsChange: sessionsAmount.default(0),
});
/** The seed's `update_level_atomic`: `advance` with the actor in the input. */
export const updateLevelInput = advanceInput.extend({ actor });
export const syncInput = z.object({ userId, specialization, source: syncSource });
export const historyInput = z.object({
  userId,
  specialization,
  /** Id of the last row of the previous page. */
  cursor: z.number().int().positive().optional(),
  limit: z.number().int().min(1).max(100).default(20),
});
/**
 * A track to create or replace: its id, a display name, and every level
 * 1..max with the total XP needed to reach it. Levels must be contiguous from
 * 1, level 1 must need 0 XP (a learner enrols at level 1 with 0 XP), and
 * thresholds must strictly increase; the last level is the maximum.
 */
export const trackInput = z
  .object({
    id: specialization,
    name: text(200),
    levels: z
      .array(z.object({ level, minXp: z.number().int().min(0, "minXp must not be negative").max(MAX_TOTAL_XP) }))
      .min(1, "a track needs at least level 1")
      .max(MAX_LEVEL, `a track has at most ${MAX_LEVEL} levels`),
  })
  .superRefine(({ levels }, ctx) => {
    // The first broken level only: one issue says what to fix, a thousand would bury it.
    const problem = curveProblem(levels);
    if (problem) ctx.addIssue({ code: "custom", ...problem });
  });

function curveProblem(
  levels: { level: number; minXp: number }[],
): { path: (string | number)[]; message: string } | undefined {
  for (const [i, entry] of levels.entries()) {
    const previous = levels[i - 1];
    if (entry.level !== i + 1) {
      return { path: ["levels", i, "level"], message: `levels must be 1, 2, 3, … in order: expected ${i + 1} here` };
    }
    if (i === 0 && entry.minXp !== 0) return { path: ["levels", 0, "minXp"], message: "level 1 must need 0 XP" };
    if (previous && entry.minXp <= previous.minXp) {
      return {
        path: ["levels", i, "minXp"],
        message: `thresholds must strictly increase: level ${entry.level} needs more than ${previous.minXp} XP`,
      };
    }
  }
  return undefined;
}
export const trackIdInput = z.object({ id: specialization });
/**
 * A person's name: text(200) that is also well-formed Unicode without
 * controls (\p{Cc}), lone surrogates (\p{Cs}, which PostgreSQL would store as
 * U+FFFD) or invisible format characters (\p{Cf}: zero-width spaces, bidi
 * overrides such as U+202E, which make `\u200b\u202eadmin` look like another
 * name). Such names are refused (VALIDATION), never silently rewritten. ZWNJ
 * and ZWJ (U+200C, U+200D) stay allowed: Persian and Indic names need them.
 */
const personName = text(200)
  .refine((s) => !/\p{Cs}/u.test(s), "must be well-formed Unicode (no lone surrogate)")
  .refine(
    (s) => !/[\p{Cc}\p{Cf}]/u.test(s.replace(/[\u200c\u200d]/g, "")),
    "must not contain control, zero-width or bidi-control characters",
  );
export const createUserInput = z.object({
  name: personName,
  email: z.string().trim().toLowerCase().pipe(z.email()).pipe(z.string().max(320)),
});

export type PairInput = z.infer<typeof pairInput>;
export type LevelUpInput = z.infer<typeof levelUpInput>;
export type UpdateLevelInput = z.input<typeof updateLevelInput>;
export type AdvanceInput = z.input<typeof advanceInput>;
export type SyncInput = z.infer<typeof syncInput>;
export type SyncSource = z.infer<typeof syncSource>;
export type HistoryInput = z.input<typeof historyInput>;
export type TrackInput = z.infer<typeof trackInput>;
export type CreateUserInput = z.infer<typeof createUserInput>;
