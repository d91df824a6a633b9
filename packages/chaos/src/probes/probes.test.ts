import { builtApiMain } from "@coupler/bench/apiProcess";
import { describe, expect, it } from "vitest";
import { ALL_PROBES } from "./allProbes.ts";
import { formatProbeTable } from "./formatProbes.ts";
import { runProbes } from "./runProbes.ts";

/** The probes attack the built API (`node packages/api/dist/main.js`), as an operator runs it. */
function missingBuild(): string | undefined {
  try {
    builtApiMain();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
const skipReason = missingBuild();
if (skipReason) console.warn(`security probes skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)("security probes against the built API", () => {
  // The whole run takes about 12 s (the slow-client probes wait out their bounds), so all of them run here.
  it("answers every probe as expected: forged and long-lived tokens, roles, bad input and bodies, slow clients, /metrics, idempotency scope, no secrets in the logs", async () => {
    const run = await runProbes();
    const failed = run.results.filter((r) => !r.pass);
    if (failed.length > 0) console.error(formatProbeTable({ ...run, results: failed }));
    expect(failed.map((r) => `${r.id}: expected ${r.expected}, got ${r.actual}`)).toEqual([]);
    // Every defined probe ran, once each, in order: none was dropped or failed to report.
    expect(run.results.map((r) => r.id)).toEqual(ALL_PROBES.map((p) => p.id));
    expect(run.passed).toBe(ALL_PROBES.length);
  }, 120_000);
});
