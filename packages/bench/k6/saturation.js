// Saturation: level-ups back to back with no think time, for the most throughput
// the stack gives at this concurrency (compared with the raw-pg ceiling).
import { levelUp } from "./operations.js";
import { readConfig, scenarioOptions, summaryHandler } from "./lib.js";

const config = Object.assign(readConfig(), { thinkMinMs: 0, thinkMaxMs: 0 });

export const options = scenarioOptions(config, "levelUp");

export default function () {
  levelUp(config);
}

export const handleSummary = summaryHandler(config);
