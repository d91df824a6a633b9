/**
 * `pnpm --filter @coupler/bench report:publish <results dir>`: turns a run's
 * summary.json into the repository's BENCHMARKS.md, with its charts under
 * docs/benchmarks/, so readers see the latest full run without running it.
 * Further results dirs (`--scenarios single,level-up-rate` runs, one per Node
 * version with `--node`, back to back) add a Node versions table; docs/benchmarks/profile.md, the CPU
 * profile's findings, is appended as written.
 * `--citus <dir>` (a `pnpm bench --citus` run) adds the Citus section, its
 * runs beside the same runs on one server from `--citus-single <dir>`.
 * Re-rendering from summary.json (not copying report.md) keeps the published
 * report in step with the report code.
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { withCurrentNames, type BenchResults } from "./results.ts";
import { renderCharts } from "./report/charts.ts";
import { renderCitusSection } from "./report/renderCitus.ts";
import { renderNodeComparison } from "./report/renderNodeComparison.ts";
import { renderReport } from "./report/renderReport.ts";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));

/**
 * Hand-written sections kept beside the charts, appended in this order when
 * present: what was special about the published run (run-notes.md), then the
 * CPU profile's findings (profile.md).
 */
const NOTES = [join("docs", "benchmarks", "run-notes.md"), join("docs", "benchmarks", "profile.md")];

export async function publishReport(
  resultsDir: string,
  repo = REPO,
  compareDirs: string[] = [],
  citus?: { dir: string; singleDir?: string | undefined },
): Promise<string> {
  const read = async (dir: string) =>
    withCurrentNames(JSON.parse(await readFile(join(dir, "summary.json"), "utf8")) as BenchResults);
  const results = await read(resultsDir);
  const chartDir = join(repo, "docs", "benchmarks");
  await mkdir(chartDir, { recursive: true });
  const charts = await renderCharts(results);
  for (const chart of charts) await writeFile(join(chartDir, chart.file), chart.svg);
  const linked = charts.map((c) => ({ ...c, file: relative(repo, join(chartDir, c.file)) }));
  const target = join(repo, "BENCHMARKS.md");
  const sections = [renderReport(results, linked)];
  if (compareDirs.length > 0) sections.push(renderNodeComparison(await Promise.all(compareDirs.map(read))));
  if (citus)
    sections.push(renderCitusSection(await read(citus.dir), citus.singleDir ? await read(citus.singleDir) : undefined));
  for (const file of NOTES) {
    const notes = await readFile(join(repo, file), "utf8").catch(() => undefined);
    if (notes) sections.push(notes);
  }
  await writeFile(target, sections.map((s) => s.trimEnd()).join("\n\n") + "\n");
  return target;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { citus: { type: "string" }, "citus-single": { type: "string" } },
  });
  const [dir, ...compare] = positionals;
  if (!dir) {
    process.stderr.write(
      "usage: pnpm --filter @coupler/bench report:publish <results dir with summary.json> [results dirs of single,level-up-rate runs, one per Node version …]\n" +
        "         [--citus <pnpm bench --citus results dir> [--citus-single <the same plan on one PostgreSQL>]]\n",
    );
    process.exit(64);
  }
  const citus = values.citus
    ? { dir: resolve(values.citus), singleDir: values["citus-single"] ? resolve(values["citus-single"]) : undefined }
    : undefined;
  process.stdout.write(
    `${await publishReport(
      resolve(dir),
      REPO,
      compare.map((d) => resolve(d)),
      citus,
    )}\n`,
  );
}
