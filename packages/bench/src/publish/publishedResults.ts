/**
 * The results BENCHMARKS.md is generated from, committed under
 * docs/benchmarks/: each published run's summary.json in a folder of its own
 * (<run-id>/, without k6's raw streams), and published.json naming which
 * folder feeds which section. Rendering reads only these files, so a test can
 * render BENCHMARKS.md again and find any hand edit.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { withCurrentNames, type BenchResults } from "../results.ts";
import { renderCharts, type Chart } from "../report/charts.ts";
import { renderCitusSection } from "../report/renderCitus.ts";
import { renderNodeComparison } from "../report/renderNodeComparison.ts";
import { renderReport } from "../report/renderReport.ts";
import { renderScaleSection } from "../report/renderScale.ts";
import { SCALE_CHART, renderScaleCharts } from "../report/scaleChart.ts";
import { generatedBlock } from "./generatedBlock.ts";

/** docs/benchmarks, from the repository's root. */
export const BENCHMARKS_DIR = join("docs", "benchmarks");
export const MANIFEST = join(BENCHMARKS_DIR, "published.json");

/** published.json: folders under docs/benchmarks/ (each holding a summary.json), by section. */
export interface PublishedResults {
  /** The full run the report's tables come from; null until one is published. */
  main: string | null;
  /** `--scenarios single,level-up-rate` runs, one per Node version, for the Node versions table. */
  nodeVersions: string[];
  /** A `pnpm bench --citus` run, and the same plan on one PostgreSQL beside it. */
  citus: { dir: string; single: string | null } | null;
  /** The Citus scale bench's run (`pnpm bench --citus`, worker counts under a CPU quota); absent or null until one is published. */
  citusScale?: string | null;
}

/** The scale bench's chart under docs/benchmarks/, as BENCHMARKS.md and SCALING.md link it from the repository's root. */
export const SCALE_CHART_PATH = join(BENCHMARKS_DIR, SCALE_CHART);
/** The generated blocks the scale bench's committed results fill: BENCHMARKS.md's section and SCALING.md's table. */
export const SCALE_SECTION_BLOCK = "citus-scale-section";
export const SCALE_TABLE_BLOCK = "citus-scale-table";

/**
 * Hand-written prose appended after the generated sections, in this order when
 * present: what was special about the published run (run-notes.md), then the
 * CPU profile's findings (profile.md). Neither may hold a table: figures come
 * from committed results only.
 */
export const NOTES = [join(BENCHMARKS_DIR, "run-notes.md"), join(BENCHMARKS_DIR, "profile.md")];

export class PublishError extends Error {
  override name = "PublishError";
}

export async function readManifest(repo: string): Promise<PublishedResults> {
  const text = await readFile(join(repo, MANIFEST), "utf8").catch(() => undefined);
  if (text === undefined) return { main: null, nodeVersions: [], citus: null, citusScale: null };
  return JSON.parse(text) as PublishedResults;
}

/** A published folder's summary.json (`folder` relative to docs/benchmarks/), with today's names. */
export async function readPublished(repo: string, folder: string): Promise<BenchResults> {
  const file = join(repo, BENCHMARKS_DIR, folder, "summary.json");
  const text = await readFile(file, "utf8").catch(() => {
    throw new PublishError(`published results missing: ${file} (named in ${MANIFEST})`);
  });
  return withCurrentNames(JSON.parse(text) as BenchResults);
}

/** The generated sections of BENCHMARKS.md, each from committed results; empty for a section not published. */
export async function renderSections(
  repo: string,
  manifest: PublishedResults,
): Promise<{
  main: string | undefined;
  nodeVersions: string | undefined;
  citus: string | undefined;
  /** The scale bench's section, inside its generated block's markers. */
  citusScale: string | undefined;
  charts: Chart[];
}> {
  const main = manifest.main === null ? undefined : await readPublished(repo, manifest.main);
  const scale = manifest.citusScale ? await readPublished(repo, manifest.citusScale) : undefined;
  const scaleCharts = scale ? await renderScaleCharts(scale) : [];
  const mainCharts = main ? await renderCharts(main) : [];
  const charts = [...mainCharts, ...scaleCharts];
  const linked = mainCharts.map((c) => ({ ...c, file: join(BENCHMARKS_DIR, c.file) }));
  const nodeRuns = await Promise.all(manifest.nodeVersions.map((f) => readPublished(repo, f)));
  const citus = manifest.citus
    ? renderCitusSection(
        await readPublished(repo, manifest.citus.dir),
        manifest.citus.single === null ? undefined : await readPublished(repo, manifest.citus.single),
      )
    : undefined;
  return {
    main: main ? renderReport(main, linked) : undefined,
    nodeVersions: nodeRuns.length > 0 ? renderNodeComparison(nodeRuns) : undefined,
    citus,
    citusScale: scale
      ? generatedBlock(SCALE_SECTION_BLOCK, renderScaleSection(scale, scaleCharts[0] ? SCALE_CHART_PATH : undefined))
      : undefined,
    charts,
  };
}

/**
 * BENCHMARKS.md as the committed results and notes give it, and its charts.
 * Throws PublishError without a published main run (there is nothing to
 * generate the report's tables from) or when a note holds a table.
 */
export async function renderBenchmarks(repo: string): Promise<{ text: string; charts: Chart[] }> {
  const sections = await renderSections(repo, await readManifest(repo));
  if (sections.main === undefined)
    throw new PublishError(`no main run in ${MANIFEST}: publish one with report:publish <results dir>`);
  const notes: string[] = [];
  for (const file of NOTES) {
    const text = await readFile(join(repo, file), "utf8").catch(() => undefined);
    if (text === undefined) continue;
    const tableLine = text.split("\n").findIndex((line) => line.trimStart().startsWith("|"));
    if (tableLine >= 0)
      throw new PublishError(
        `${file}:${tableLine + 1} holds a table; notes keep prose only, figures come from committed results (publish the run that measured them)`,
      );
    notes.push(text);
  }
  const parts = [sections.main, sections.nodeVersions, sections.citus, sections.citusScale, ...notes].filter(
    (s): s is string => s !== undefined,
  );
  return { text: parts.map((s) => s.trimEnd()).join("\n\n") + "\n", charts: sections.charts };
}
