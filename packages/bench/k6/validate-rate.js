// validate at a fixed arrival rate (see fixedRateOptions), beside level-up-rate at the same
// rate, so a read's CPU per call compares with a level-up's. TARGET=coupler.
import { validate } from "./operations.js";
import { fixedRateOptions, readConfig, summaryHandler } from "./lib.js";

const config = readConfig();

export const options = fixedRateOptions(config, "validate");

export default function () {
  validate(config);
}

export const handleSummary = summaryHandler(config);
