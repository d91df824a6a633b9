import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BenchResults } from "../results.ts";
import { renderCharts } from "./charts.ts";
import { renderReport } from "./renderReport.ts";

/** Writes summary.json, the SVG charts and report.md into `outDir`; returns the report's path. */
export async function writeReport(results: BenchResults, outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, "summary.json"), `${JSON.stringify(results, null, 2)}\n`);
  const charts = await renderCharts(results);
  for (const chart of charts) await writeFile(join(outDir, chart.file), chart.svg);
  const report = join(outDir, "report.md");
  await writeFile(report, renderReport(results, charts));
  return report;
}
