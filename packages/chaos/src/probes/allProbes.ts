import { accessProbes } from "./accessProbes.ts";
import { bodyProbes } from "./bodyProbes.ts";
import { httpProbes, metricsProbes } from "./httpProbes.ts";
import { idempotencyProbes } from "./idempotencyProbes.ts";
import { inputProbes } from "./inputProbes.ts";
import { secretProbes } from "./secretProbes.ts";
import { slowClientProbes } from "./slowClientProbes.ts";
import { tokenForgeryProbes, tokenLifetimeProbes } from "./tokenProbes.ts";
import type { Probe } from "./types.ts";

/**
 * Every probe, in the order they run: one at a time, so the connection-cap
 * probe sees only its own sockets; the header audit after every request
 * probe, and the secrets last, over everything the others made the API log.
 */
export const ALL_PROBES: readonly Probe[] = [
  ...tokenForgeryProbes,
  ...tokenLifetimeProbes,
  ...accessProbes,
  ...inputProbes,
  ...bodyProbes,
  ...metricsProbes,
  ...idempotencyProbes,
  ...slowClientProbes,
  ...httpProbes,
  ...secretProbes,
];
