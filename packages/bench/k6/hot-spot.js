// Hot spot: many VUs level up the same few learners (HOT_LEARNERS), so they queue
// on the same row locks. This is where contention lives: locks are per learner and
// specialization, so it grows with requests per learner, not with the number of learners.
import { levelUp } from "./operations.js";
import { readConfig, scenarioOptions, staggerStart, summaryHandler, think } from "./lib.js";

const config = readConfig();
const hotLearners = Number(__ENV.HOT_LEARNERS || "5");

export const options = scenarioOptions(config, "levelUp");

export default function () {
  staggerStart(config);
  levelUp(config, hotLearners);
  think(config);
}

export const handleSummary = summaryHandler(config);
