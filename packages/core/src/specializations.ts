/**
 * The specialization ids the seed migration creates: the default catalogue,
 * and a hint for typed callers. Inputs are checked against the catalogue
 * (tables `specializations`, `specialization_levels`), which `putTrack` and
 * `removeTrack` change; a test checks this list matches a fresh database.
 */
export const SPECIALIZATIONS = ["PLAYER", "COACH", "INTERNSHIP"] as const;
export type Specialization = (typeof SPECIALIZATIONS)[number];

export interface SpecializationRules {
  id: string;
  maxLevel: number;
  /** `minXp[i]` is the total XP needed for level `i + 1`; `minXp[0]` is 0. */
  minXp: number[];
}

/**
 * The level a total XP earns under a specialization's curve, capped at its
 * maximum. Never lower than `floor` (a level-up never demotes).
 */
export function levelForXp(rules: SpecializationRules, totalXp: number, floor = 1): number {
  let level = 1;
  for (let i = 1; i < rules.minXp.length && i < rules.maxLevel; i++) {
    const threshold = rules.minXp[i];
    if (threshold === undefined || totalXp < threshold) break;
    level = i + 1;
  }
  return Math.min(rules.maxLevel, Math.max(level, floor));
}
