// validate under a growing crowd: each VU checks a random learner's pair, then thinks.
import { validate } from "./operations.js";
import { readConfig, scenarioOptions, staggerStart, summaryHandler, think } from "./lib.js";

const config = readConfig();

export const options = scenarioOptions(config, "validate");

export default function () {
  staggerStart(config);
  validate(config);
  think(config);
}

export const handleSummary = summaryHandler(config);
