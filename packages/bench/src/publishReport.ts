/**
 * `pnpm --filter @coupler/bench report:publish <results dir>`: turns a run's
 * summary.json into the repository's BENCHMARKS.md, with its charts under
 * docs/benchmarks/, so readers see the latest full run without running it.
 * Re-rendering from summary.json (not copying report.md) keeps the published
 * report in step with the report code.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchResults } from "./results.ts";
import { renderCharts } from "./report/charts.ts";
import { renderReport } from "./report/renderReport.ts";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));

export async function publishReport(resultsDir: string, repo = REPO): Promise<string> {
  const results = JSON.parse(await readFile(join(resultsDir, "summary.json"), "utf8")) as BenchResults;
  const chartDir = join(repo, "docs", "benchmarks");
  await mkdir(chartDir, { recursive: true });
  const charts = await renderCharts(results);
  for (const chart of charts) await writeFile(join(chartDir, chart.file), chart.svg);
  const linked = charts.map((c) => ({ ...c, file: relative(repo, join(chartDir, c.file)) }));
  const target = join(repo, "BENCHMARKS.md");
  await writeFile(target, renderReport(results, linked));
  return target;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write("usage: pnpm --filter @coupler/bench report:publish <results dir with summary.json>\n");
    process.exit(64);
  }
  process.stdout.write(`${await publishReport(resolve(dir))}\n`);
}
