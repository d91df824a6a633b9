import type { BenchResults } from "../results.ts";
import { medianView } from "../rounds.ts";
import { findRun } from "./targets.ts";

const ms = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${v.toFixed(3)} ms`);

/**
 * The same fixed-rate and one-call runs on several Node versions, side by
 * side: the API's and the minimal server's CPU per level-up, their ratio,
 * PostgreSQL's share, and one call's p50. Each column is its own bench run
 * (`--node`), on the same machine, one after the other.
 */
export function renderNodeComparison(runs: BenchResults[]): string {
  // Each run's median of its undisturbed rounds, as the main report.
  const rows = runs.map(medianView).map((results) => {
    const api = findRun(results, "level-up-rate", "coupler")?.cpu?.perCallMs;
    const min = findRun(results, "level-up-rate", "baseline")?.cpu?.perCallMs;
    const single = findRun(results, "single", "coupler")?.k6?.latency.p50;
    const ratio = api?.server && min?.server ? `${(api.server / min.server).toFixed(2)}×` : "—";
    return `| ${results.setup.serverNode?.version ?? results.machine.node} | ${ms(api?.server)} | ${ms(min?.server)} | ${ratio} | ${ms(api?.postgres)} | ${ms(single)} |`;
  });
  const rate = runs[0]?.plan.rate ?? 0;
  return [
    "## Node versions",
    "",
    `CPU per level-up at a fixed ${rate}/s (k6 constant-arrival-rate, same script), from /proc, each Node version in its own run of \`pnpm bench --scenarios single,level-up-rate --node <binary>\` on this machine, back to back (one API process against one minimal server). ` +
      "Node 20 reached its end of life on 2026-04-30; Node 24 LTS is the recommended runtime, Node 20 keeps working (CI runs it).",
    "",
    "| Node (API and minimal server) | API CPU/call | minimal server CPU/call | API / minimal | PostgreSQL CPU/call (through the API) | single level-up p50 (1 VU) |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}
