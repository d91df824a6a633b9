import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { withCurrentNames, type BenchResults } from "../results.ts";
import { summarizeRounds, type Figure, type RoundSummary, type Spread } from "../rounds.ts";

/** The figures compared, and which way is worse for each. */
const COMPARED: { figure: Figure; name: string; higherIsWorse: boolean; unit: "ms" | "/s" }[] = [
  { figure: "avg", name: "avg", higherIsWorse: true, unit: "ms" },
  { figure: "p95", name: "P95", higherIsWorse: true, unit: "ms" },
  { figure: "throughput", name: "throughput", higherIsWorse: false, unit: "/s" },
  { figure: "serverCpuMs", name: "server CPU/call", higherIsWorse: true, unit: "ms" },
  { figure: "postgresCpuMs", name: "PostgreSQL CPU/call", higherIsWorse: true, unit: "ms" },
];

/** A single round measures no noise: a change of more than this share is flagged as possible. */
const ONE_ROUND_CHANGE = 0.1;

/** One compared figure of one run. */
export interface FigureChange {
  id: string;
  figure: Figure;
  a: Spread & { rounds: number };
  b: Spread & { rounds: number };
  /** b.median / a.median − 1. */
  change: number;
  /**
   * "worse" / "better": each median lies outside the other side's range and
   * the gap exceeds `k` × the larger range: more than the rounds' noise.
   * "possible": one side has a single round (no noise measured) and the change passes 10%.
   * "within noise": neither.
   */
  verdict: "worse" | "better" | "possibly worse" | "possibly better" | "within noise";
}

/**
 * The headline figures of two bench results, run by run (matched by id) over
 * their undisturbed rounds, each change judged against the noise the rounds
 * measured. `k` scales the noise a change must exceed (1: the larger range).
 */
export function compareFigures(a: BenchResults, b: BenchResults, k = 1): FigureChange[] {
  const before = new Map(summarizeRounds(a.runs).map((s) => [s.id, s]));
  const changes: FigureChange[] = [];
  for (const after of summarizeRounds(b.runs)) {
    const base = before.get(after.id);
    if (!base) continue;
    for (const { figure, higherIsWorse } of COMPARED) {
      const x = base.figures[figure];
      const y = after.figures[figure];
      if (!x || !y) continue;
      const change = x.median === 0 ? 0 : y.median / x.median - 1;
      const worse = higherIsWorse ? y.median > x.median : y.median < x.median;
      const noise = Math.max(x.max - x.min, y.max - y.min);
      const apart = (y.median < x.min || y.median > x.max) && (x.median < y.min || x.median > y.max);
      const oneRound = countOf(base) < 2 || countOf(after) < 2;
      const verdict: FigureChange["verdict"] = oneRound
        ? Math.abs(change) > ONE_ROUND_CHANGE
          ? worse
            ? "possibly worse"
            : "possibly better"
          : "within noise"
        : apart && Math.abs(y.median - x.median) > k * noise
          ? worse
            ? "worse"
            : "better"
          : "within noise";
      changes.push({
        id: after.id,
        figure,
        a: { ...x, rounds: countOf(base) },
        b: { ...y, rounds: countOf(after) },
        change,
        verdict,
      });
    }
  }
  return changes;
}

/** Rounds a summary's figures are over: the undisturbed ones, or all when every round was disturbed. */
function countOf(summary: RoundSummary): number {
  return summary.allDisturbed ? summary.rounds : summary.undisturbed;
}

/** A results folder's summary.json (or the file itself), with today's names. Throws a one-line error when missing. */
export async function readResults(path: string): Promise<BenchResults> {
  const file = (await stat(path).catch(() => undefined))?.isDirectory() ? join(path, "summary.json") : path;
  const text = await readFile(file, "utf8").catch((error: unknown) => {
    throw new Error(
      `pnpm bench --compare: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  return withCurrentNames(JSON.parse(text) as BenchResults);
}

/** `pnpm bench --compare A B`: the text it prints. */
export async function compareResults(pathA: string, pathB: string, k = 1): Promise<string> {
  const [a, b] = await Promise.all([readResults(pathA), readResults(pathB)]);
  return renderComparison(a, b, compareFigures(a, b, k), [pathA, pathB]);
}

export function renderComparison(
  a: BenchResults,
  b: BenchResults,
  changes: FigureChange[],
  names: [string, string],
): string {
  const describe = (r: BenchResults, name: string) =>
    `${name}: ${r.startedAt}, commit ${r.source?.commit?.slice(0, 12) ?? "unknown"}${r.source?.dirty ? " (uncommitted changes)" : ""}, ` +
    `Node ${r.setup.serverNode?.version ?? r.machine.node}, ${r.machine.cores} cores ${r.machine.cpuModel}, ${r.plan.rounds ?? 1} round(s)`;
  const value = (v: number, unit: string) =>
    unit === "/s" ? `${v.toFixed(0)}/s` : `${v.toFixed(unit === "ms" && v < 1 ? 3 : 2)} ms`;
  const cell = (s: FigureChange["a"], unit: string) =>
    `${value(s.median, unit)} [${value(s.min, unit)}–${value(s.max, unit)}] (${s.rounds})`;
  const rows = changes.map((c) => {
    const meta = COMPARED.find((m) => m.figure === c.figure);
    const unit = meta?.unit ?? "ms";
    const flag = c.verdict === "within noise" ? "" : c.verdict.includes("worse") ? `**${c.verdict}**` : c.verdict;
    return `| ${c.id} | ${meta?.name ?? c.figure} | ${cell(c.a, unit)} | ${cell(c.b, unit)} | ${c.change >= 0 ? "+" : ""}${(c.change * 100).toFixed(1)}% | ${flag} |`;
  });
  const flagged = changes.filter((c) => c.verdict !== "within noise").length;
  return [
    `A = ${describe(a, names[0])}`,
    `B = ${describe(b, names[1])}`,
    "",
    "Median [range] (undisturbed rounds) of each run both measured. A change is flagged when each median lies outside the other's range by more than the larger range; with one round on a side, when it passes 10% (possibly).",
    "",
    "| run | figure | A | B | change | flag |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows,
    "",
    `${flagged} of ${changes.length} figures changed by more than the noise.`,
    "",
  ].join("\n");
}
