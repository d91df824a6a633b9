// The three operations the scenarios issue, against the coupler or the legacy path.
import { mutate, pickLearner, query } from "./lib.js";

/**
 * Awards a little XP and a session to a learner.
 * @param {import("./lib.js").Config} config
 * @param {number} [learnerCount] draw from only the first learners (hot spot)
 */
export function levelUp(config, learnerCount) {
  const path = config.target === "legacy" ? "bench.legacyLevelUp" : "progression.levelUp";
  const input = {
    userId: pickLearner(config, learnerCount),
    specialization: config.specialization,
    xpGained: config.xpMin + Math.floor(Math.random() * (config.xpMax - config.xpMin + 1)),
    sessionsCompleted: 1,
  };
  return mutate(config, path, input, config.instructorToken, "levelUp");
}

/**
 * Copies a learner's progress level onto the license (a no-op when in step).
 * @param {import("./lib.js").Config} config
 */
export function sync(config) {
  const path = config.target === "legacy" ? "bench.legacySync" : "progression.sync";
  const input = { userId: pickLearner(config), specialization: config.specialization, source: "progress" };
  return mutate(config, path, input, config.adminToken, "sync");
}

/**
 * Checks one learner's pair (read only; the same endpoint for both targets).
 * @param {import("./lib.js").Config} config
 */
export function validate(config) {
  const input = { userId: pickLearner(config), specialization: config.specialization };
  return query(config, "progression.validate", input, config.instructorToken, "validate");
}
