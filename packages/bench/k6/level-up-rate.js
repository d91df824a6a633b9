// Level-ups at a fixed arrival rate (see fixedRateOptions). TARGET=coupler or baseline (the
// minimal server): both are sent progression.levelUp with the same body.
import { levelUp } from "./operations.js";
import { fixedRateOptions, readConfig, summaryHandler } from "./lib.js";

const config = readConfig();

export const options = fixedRateOptions(config, "levelUp");

export default function () {
  levelUp(config);
}

export const handleSummary = summaryHandler(config);
