import type { BenchResults } from "../results.ts";
import { summarizeRounds, type Spread } from "../rounds.ts";
import { table } from "./markdown.ts";

const ms = (v: number) => `${v.toFixed(2)} ms`;
const rate = (v: number) => `${v.toFixed(0)}/s`;
const share = (v: number | null) => (v === null ? "—" : `${(v * 100).toFixed(1)}%`);
const spread = (s: Spread | undefined, format: (v: number) => string) =>
  s === undefined
    ? "—"
    : s.min === s.max
      ? format(s.median)
      : `${format(s.median)} (${format(s.min)}–${format(s.max)})`;

/**
 * The report's "Rounds and disturbance" section: for every run made in more
 * than one round, or whose CPU outside it was measured, the outside share of
 * each round (disturbed ones marked), and the median and range of its
 * undisturbed rounds. Empty for results from before rounds and disturbance
 * were measured.
 */
export function renderRounds(results: BenchResults): string[] {
  const summaries = summarizeRounds(results.runs).filter(
    (s) => s.rounds > 1 || s.outsideShares.some((v) => v !== null),
  );
  if (summaries.length === 0) return [];
  const threshold = results.setup.maxOutsideShare ?? results.plan.maxOutsideShare;
  const disturbedRounds = new Set(results.runs.filter((r) => r.disturbed).map((r) => `${r.id}#${r.round ?? 1}`));
  const retried = results.runs.reduce((n, r) => n + (r.retriedOutsideShares?.length ?? 0), 0);
  return [
    "## Rounds and disturbance",
    `Each headline run was made in ${results.plan.rounds ?? 1} round(s), round-robin over the runs so a drift of the machine falls on every path alike. ` +
      `"Outside" is the CPU the machine spent on anything but the run (/proc/stat busy time, steal included, less k6, the API, PostgreSQL and the bench itself) ` +
      `over the run's measured window, as a share of the box's capacity (${results.machine.cores} cores × wall time). ` +
      (threshold === undefined
        ? ""
        : `A round over ${share(threshold)} is disturbed (marked *) and was made again, up to ${results.setup.disturbedRetries ?? results.plan.disturbedRetries} times (${retried} attempt(s) thrown away in this run); `) +
      "figures are the median (and range) of the undisturbed rounds, and the targets above are judged on those medians; a run whose every round was disturbed is not judged.",
    table(
      ["Run", "Outside CPU per round", "Undisturbed", "Avg", "P95", "Throughput"],
      summaries.map((s) => [
        s.id,
        s.outsideShares.map((v, i) => `${share(v)}${disturbedRounds.has(`${s.id}#${i + 1}`) ? "*" : ""}`).join(", "),
        `${s.undisturbed} of ${s.rounds}${s.allDisturbed ? " (all disturbed)" : ""}`,
        spread(s.figures.avg, ms),
        spread(s.figures.p95, ms),
        spread(s.figures.throughput, rate),
      ]),
    ),
  ];
}
