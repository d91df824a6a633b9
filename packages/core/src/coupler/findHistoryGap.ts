/** Describes the first break in a license's from→to chain, or returns undefined. The chain starts at level 1. */
export function findHistoryGap(
  chain: { fromLevel: number; toLevel: number }[],
  currentLevel: number,
): string | undefined {
  let level = 1;
  for (const [i, step] of chain.entries()) {
    if (step.fromLevel !== level) return `history step ${i + 1} starts at level ${step.fromLevel}, expected ${level}`;
    level = step.toLevel;
  }
  return level === currentLevel ? undefined : `history ends at level ${level} but the license is at ${currentLevel}`;
}
