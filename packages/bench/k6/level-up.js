// Level-up under a growing crowd: each VU awards XP to a random learner, then thinks.
// TARGET=coupler calls progression.levelUp; TARGET=legacy the bench-only two-transaction path.
import { levelUp } from "./operations.js";
import { readConfig, scenarioOptions, staggerStart, summaryHandler, think } from "./lib.js";

const config = readConfig();

export const options = scenarioOptions(config, "levelUp");

export default function () {
  staggerStart(config);
  levelUp(config);
  think(config);
}

export const handleSummary = summaryHandler(config);
