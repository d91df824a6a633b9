import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { BenchResults } from "../results.ts";
import { renderCharts } from "./charts.ts";
import { renderReport } from "./renderReport.ts";
import { renderScaleReport } from "./renderScale.ts";
import { renderScaleCharts } from "./scaleChart.ts";

/** Writes summary.json, the SVG charts and report.md into `outDir` (the scale bench's own for a scale run); returns the report's path. */
export async function writeReport(results: BenchResults, outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, "summary.json"), `${JSON.stringify(results, null, 2)}\n`);
  const scale = results.plan.scale !== undefined;
  const charts = scale ? await renderScaleCharts(results) : await renderCharts(results);
  for (const chart of charts) await writeFile(join(outDir, chart.file), chart.svg);
  const report = join(outDir, "report.md");
  await writeFile(report, scale ? renderScaleReport(results, charts) : renderReport(results, charts));
  return report;
}
