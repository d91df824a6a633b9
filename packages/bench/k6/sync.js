// Sync under a growing crowd: each VU syncs a random learner from progress, then thinks.
import { sync } from "./operations.js";
import { readConfig, scenarioOptions, staggerStart, summaryHandler, think } from "./lib.js";

const config = readConfig();

export const options = scenarioOptions(config, "sync");

export default function () {
  staggerStart(config);
  sync(config);
  think(config);
}

export const handleSummary = summaryHandler(config);
