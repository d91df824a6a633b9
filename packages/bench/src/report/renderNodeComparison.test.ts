import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { BenchResults, RunResult } from "../results.ts";
import { renderNodeComparison } from "./renderNodeComparison.ts";

const fixture = JSON.parse(
  readFileSync(new URL("../../test/fixtures/bench-results-quick.json", import.meta.url), "utf8"),
) as BenchResults;

/** The quick fixture as if its API had run on `version`, with a fixed-rate pair costing `api` and `minimal` ms of CPU a call. */
function onNode(version: string, api: number, minimal: number): BenchResults {
  const cpu = (server: number) => ({
    wallSeconds: 10,
    calls: 3000,
    coresBusy: 1,
    cpuMs: { loadGenerator: null, server: server * 3000, postgres: 1500, machine: null },
    perCallMs: { loadGenerator: null, server, postgres: 0.5, machine: null },
  });
  const rate = (target: RunResult["target"], server: number): RunResult => ({
    id: `level-up-rate-${target}-300`,
    scenario: "level-up-rate",
    target,
    vus: 300,
    operation: "levelUp",
    cpu: cpu(server),
  });
  return {
    ...fixture,
    setup: { ...fixture.setup, serverNode: { binary: `/opt/node-${version}`, version } },
    runs: [...fixture.runs, rate("coupler", api), rate("baseline", minimal)],
  };
}

describe("renderNodeComparison", () => {
  it("puts each Node version's API and minimal-server CPU per call, and their ratio, on a row of its own", () => {
    const section = renderNodeComparison([onNode("v20.20.2", 0.6, 0.5), onNode("v24.21.0", 0.5, 0.45)]);
    expect(section).toContain("| v20.20.2 | 0.600 ms | 0.500 ms | 1.20× | 0.500 ms |");
    expect(section).toContain("| v24.21.0 | 0.500 ms | 0.450 ms | 1.11× | 0.500 ms |");
  });

  it("says — where a run did not measure the fixed rate", () => {
    expect(renderNodeComparison([fixture])).toMatch(/\| — \| — \| — \| — \|/);
  });
});
