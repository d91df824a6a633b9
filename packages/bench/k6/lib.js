// Shared pieces of the k6 scenarios. They run inside k6 0.48 (goja + babel, ES modules),
// not Node: only k6/* modules, and no `??`, `?.` or object spread (its babel cannot parse
// them; eslint refuses them here). Type-checked with @types/k6 (see tsconfig.json).
import { check, sleep } from "k6";
import exec from "k6/execution";
import http from "k6/http";
import { Counter } from "k6/metrics";

/** Errors by operation, beside http_req_failed, so a run's summary names what failed. */
const failures = new Counter("bench_failures");

/** Trend stats every scenario exports: the report needs avg, median, P95 and P99. */
export const SUMMARY_TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"];

/**
 * @typedef {object} Config
 * @property {string[]} baseUrls one per API process; VUs are spread over them
 * @property {"coupler" | "legacy" | "baseline"} target baseline: the minimal server, sent the coupler's requests
 * @property {number} vus
 * @property {number} rampUpSeconds requests in this window are tagged phase=ramp
 * @property {number} steadySeconds
 * @property {number} learnerFirst first seeded learner id
 * @property {number} learnerCount
 * @property {number} thinkMinMs
 * @property {number} thinkMaxMs
 * @property {number} xpMin XP a level-up awards, drawn uniformly from xpMin..xpMax
 * @property {number} xpMax
 * @property {string} specialization
 * @property {string} instructorToken
 * @property {string} adminToken
 * @property {string} summaryOut
 */

/**
 * Reads the scenario's settings from the environment the orchestrator passes.
 * @returns {Config}
 */
export function readConfig() {
  const target = env("TARGET", "coupler");
  if (target !== "coupler" && target !== "legacy" && target !== "baseline")
    throw new Error(`TARGET must be coupler, legacy or baseline, got ${target}`);
  const baseUrls = env("BASE_URLS", "http://127.0.0.1:3000")
    .split(",")
    .map((u) => u.trim().replace(/\/+$/, ""))
    .filter((u) => u.length > 0);
  return {
    baseUrls,
    target,
    vus: int("VUS", 10),
    rampUpSeconds: int("RAMP_UP_SECONDS", 5),
    steadySeconds: int("STEADY_SECONDS", 20),
    learnerFirst: int("LEARNER_FIRST", 1),
    learnerCount: int("LEARNER_COUNT", 1000),
    thinkMinMs: int("THINK_MIN_MS", 500),
    thinkMaxMs: int("THINK_MAX_MS", 1500),
    xpMin: int("XP_MIN", 20),
    xpMax: int("XP_MAX", 120),
    specialization: env("SPECIALIZATION", "PLAYER"),
    instructorToken: env("INSTRUCTOR_TOKEN", ""),
    adminToken: env("ADMIN_TOKEN", ""),
    summaryOut: env("SUMMARY_OUT", "summary.json"),
  };
}

/**
 * Ramping VUs (up over the ramp window, then held), thresholds on the steady
 * phase of one operation, and the trend stats the report reads.
 * @param {Config} config
 * @param {string} operation tag value, e.g. "levelUp"
 * @returns {import("k6/options").Options}
 */
export function scenarioOptions(config, operation) {
  const steady = `{operation:${operation},phase:steady}`;
  return {
    scenarios: {
      [operation]: {
        executor: "ramping-vus",
        startVUs: 0,
        stages: [
          { duration: `${config.rampUpSeconds}s`, target: config.vus },
          { duration: `${config.steadySeconds}s`, target: config.vus },
        ],
        gracefulRampDown: "2s",
        gracefulStop: "5s",
      },
    },
    // The targets; a miss fails the thresholds (k6 exits 99), the orchestrator records it.
    thresholds: {
      [`http_req_duration${steady}`]: ["avg<5", "p(95)<25"],
      [`http_req_failed${steady}`]: ["rate==0"],
      [`http_reqs${steady}`]: ["count>0"],
    },
    summaryTrendStats: SUMMARY_TREND_STATS,
    discardResponseBodies: false,
    noConnectionReuse: false,
    tags: { target: config.target },
  };
}

/**
 * A fixed arrival rate (constant-arrival-rate) of one operation: RATE calls a
 * second for RAMP_UP_SECONDS (tagged ramp, not counted) plus DURATION seconds
 * (steady), whatever the latency, so two servers or two builds are compared
 * doing the same work. PRE_ALLOCATED_VUS VUs are started up front (MAX_VUS at
 * most). Sets `config.steadySeconds` to DURATION.
 * @param {Config} config
 * @param {string} operation tag value, e.g. "levelUp"
 * @returns {import("k6/options").Options}
 */
export function fixedRateOptions(config, operation) {
  const rate = positive("RATE", 300);
  const duration = positive("DURATION", config.steadySeconds);
  const preAllocatedVUs = positive("PRE_ALLOCATED_VUS", 50);
  config.steadySeconds = duration;
  const steady = `{operation:${operation},phase:steady}`;
  return {
    scenarios: {
      [operation]: {
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
      [`http_req_duration${steady}`]: ["avg<5", "p(95)<25"],
      [`http_req_failed${steady}`]: ["rate==0"],
      [`http_reqs${steady}`]: ["count>0"],
      // Iterations k6 could not start in time: the server fell behind the rate.
      dropped_iterations: ["count==0"],
    },
    summaryTrendStats: SUMMARY_TREND_STATS,
    tags: { target: config.target },
  };
}

/**
 * The API process this VU talks to: VUs are dealt round-robin over the URLs.
 * @param {Config} config
 */
export function baseUrl(config) {
  const i = (exec.vu.idInTest - 1) % config.baseUrls.length;
  return config.baseUrls[i] || config.baseUrls[0] || "";
}

/**
 * A random learner from the first `count` seeded ones.
 * @param {Config} config
 * @param {number} [count]
 */
export function pickLearner(config, count = config.learnerCount) {
  return config.learnerFirst + Math.floor(Math.random() * Math.max(1, count));
}

/**
 * Waits a random think time so VUs do not fire in lockstep.
 * @param {Config} config
 */
export function think(config) {
  if (config.thinkMaxMs <= 0) return;
  const ms = config.thinkMinMs + Math.random() * (config.thinkMaxMs - config.thinkMinMs);
  sleep(ms / 1000);
}

/**
 * Before a VU's first request, waits a random part of the think time, so VUs
 * that the ramp-up starts together do not all fire at once.
 * @param {Config} config
 */
export function staggerStart(config) {
  if (exec.vu.iterationInScenario === 0 && config.thinkMaxMs > 0) sleep((Math.random() * config.thinkMaxMs) / 1000);
}

/**
 * Tags for one request: the operation, and whether the run is still ramping up.
 * @param {Config} config
 * @param {string} operation
 */
function tags(config, operation) {
  const phase = exec.instance.currentTestRunDuration < config.rampUpSeconds * 1000 ? "ramp" : "steady";
  return { operation, phase, target: config.target };
}

/**
 * A tRPC mutation: POST /trpc/<path> with the input as the JSON body.
 * @param {Config} config
 * @param {string} path procedure path, e.g. progression.levelUp
 * @param {unknown} input
 * @param {string} token
 * @param {string} operation
 */
export function mutate(config, path, input, token, operation) {
  const res = http.post(`${baseUrl(config)}/trpc/${path}`, JSON.stringify(input), {
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    tags: tags(config, operation),
  });
  record(res, operation);
  return res;
}

/**
 * A tRPC query: GET /trpc/<path>?input=<url-encoded JSON>.
 * @param {Config} config
 * @param {string} path
 * @param {unknown} input
 * @param {string} token
 * @param {string} operation
 */
export function query(config, path, input, token, operation) {
  const res = http.get(`${baseUrl(config)}/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, {
    headers: { authorization: `Bearer ${token}` },
    tags: tags(config, operation),
  });
  record(res, operation);
  return res;
}

/**
 * @param {import("k6/http").RefinedResponse<import("k6/http").ResponseType | undefined>} res
 * @param {string} operation
 */
function record(res, operation) {
  const ok = check(res, { [`${operation} is 200`]: (r) => r.status === 200 }, { operation });
  if (!ok) {
    failures.add(1, { operation, status: String(res.status) });
    // A few bodies in the log help; thousands would drown it.
    if (Math.random() < 0.01) console.warn(`${operation} failed: ${res.status} ${String(res.body).slice(0, 300)}`);
  }
}

/**
 * Writes k6's full end-of-test summary as JSON where the orchestrator reads it,
 * and a few lines to stdout.
 * @param {Config} config
 * @returns {(data: Record<string, any>) => Record<string, string>}
 */
export function summaryHandler(config) {
  return (data) => {
    const reqs = values(data, "http_reqs");
    const dur = values(data, "http_req_duration");
    const failed = values(data, "http_req_failed");
    const line =
      `requests ${reqs.count || 0} (${(reqs.rate || 0).toFixed(1)}/s), ` +
      `avg ${(dur.avg || 0).toFixed(2)} ms, p95 ${(dur["p(95)"] || 0).toFixed(2)} ms, ` +
      `failed ${((failed.rate || 0) * 100).toFixed(2)}%\n`;
    return { [config.summaryOut]: JSON.stringify(data, null, 2), stdout: line };
  };
}

/**
 * One metric's values from a summary, or {} when the metric is absent.
 * @param {Record<string, any>} data
 * @param {string} metric
 * @returns {Record<string, number>}
 */
function values(data, metric) {
  const m = data.metrics && data.metrics[metric];
  return (m && m.values) || {};
}

/**
 * @param {string} name
 * @param {string} fallback
 */
function env(name, fallback) {
  const value = __ENV[name];
  return value === undefined || value === "" ? fallback : value;
}

/**
 * @param {string} name
 * @param {number} fallback
 */
function int(name, fallback) {
  const raw = env(name, String(fallback));
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a non-negative integer, got ${raw}`);
  return value;
}

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
