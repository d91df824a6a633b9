// Level-ups at a fixed arrival rate (constant-arrival-rate): RATE calls a second for
// RAMP_UP_SECONDS (tagged ramp, not counted) plus DURATION seconds (steady), whatever the
// latency, so two servers are compared doing the same work. PRE_ALLOCATED_VUS VUs are
// started up front (MAX_VUS at most). TARGET=coupler or baseline (the minimal server):
// both are sent progression.levelUp with the same body.
import { levelUp } from "./operations.js";
import { readConfig, summaryHandler } from "./lib.js";

const config = readConfig();
const rate = positive("RATE", 300);
const duration = positive("DURATION", config.steadySeconds);
const preAllocatedVUs = positive("PRE_ALLOCATED_VUS", 50);
config.steadySeconds = duration;

/** @type {import("k6/options").Options} */
export const options = {
  scenarios: {
    levelUp: {
      executor: "constant-arrival-rate",
      rate,
      timeUnit: "1s",
      duration: `${config.rampUpSeconds + duration}s`,
      preAllocatedVUs,
      maxVUs: positive("MAX_VUS", preAllocatedVUs * 4),
      gracefulStop: "5s",
    },
  },
  thresholds: {
    "http_req_duration{operation:levelUp,phase:steady}": ["avg<5", "p(95)<25"],
    "http_req_failed{operation:levelUp,phase:steady}": ["rate==0"],
    "http_reqs{operation:levelUp,phase:steady}": ["count>0"],
    // Iterations k6 could not start in time: the server fell behind the rate.
    dropped_iterations: ["count==0"],
  },
  summaryTrendStats: ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"],
  tags: { target: config.target },
};

export default function () {
  levelUp(config);
}

export const handleSummary = summaryHandler(config);

/**
 * @param {string} name
 * @param {number} fallback
 */
function positive(name, fallback) {
  const raw = __ENV[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${raw}`);
  return value;
}
