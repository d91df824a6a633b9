// Sync under a growing crowd: each VU syncs a random learner from progress, then thinks.
import { sync } from "./operations.js";
import { readConfig, scenarioOptions, summaryHandler, think } from "./lib.js";

const config = readConfig();

export const options = scenarioOptions(config, "sync");

export default function () {
  sync(config);
  think(config);
}

export const handleSummary = summaryHandler(config);
