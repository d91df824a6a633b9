/**
 * `pnpm --filter @coupler/bench report:publish [<results dir> [<Node version dirs> …]] [--citus <dir> [--citus-single <dir>]] [--citus-scale <dir>] [--check]`
 *
 * Publishes bench results and generates BENCHMARKS.md from them. Each results
 * folder given has its summary.json (what the report reads; never k6's raw
 * streams) copied to docs/benchmarks/<run id>/, and
 * docs/benchmarks/published.json names which folder feeds which section: the
 * first folder the main report, further ones (`--scenarios
 * single,level-up-rate` runs, one per Node version) the Node versions table,
 * `--citus` (with `--citus-single`, the same plan on one server) the Citus
 * section, `--citus-scale` (a `pnpm bench --citus` scale run, published
 * under docs/benchmarks/citus/) the scale section of BENCHMARKS.md and the
 * generated table of SCALING.md. Without folders it regenerates BENCHMARKS.md
 * from what is published (only the generated blocks while no main run is
 * published). `--check` writes nothing and exits 1 when BENCHMARKS.md or a
 * generated block differs from what the committed results render, so no hand
 * edit survives.
 */
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { readGeneratedBlock, replaceGeneratedBlock } from "./publish/generatedBlock.ts";
import {
  BENCHMARKS_DIR,
  MANIFEST,
  NOTES,
  PublishError,
  SCALE_CHART_PATH,
  SCALE_SECTION_BLOCK,
  SCALE_TABLE_BLOCK,
  readManifest,
  readPublished,
  renderBenchmarks,
  renderSections,
  type PublishedResults,
} from "./publish/publishedResults.ts";
import { renderScaleBlock } from "./report/renderScale.ts";
import type { BenchResults } from "./results.ts";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));

/** A published run's folder name: when it started and the commit it measured, e.g. 2026-12-07T14-00-00-000Z-1a2b3c4. */
export function runId(results: Pick<BenchResults, "startedAt" | "source">): string {
  const commit = results.source?.commit?.slice(0, 7) ?? "unknown-commit";
  return `${results.startedAt.replace(/[:.]/g, "-")}-${commit}${results.source?.dirty ? "-dirty" : ""}`;
}

/**
 * Copies a results folder's summary.json under docs/benchmarks/[<under>/]<run id>/
 * (a folder already under docs/benchmarks/ stays where it is) and returns its
 * path relative to docs/benchmarks/.
 */
export async function publishResults(dir: string, repo = REPO, under = ""): Promise<string> {
  const benchmarks = join(repo, BENCHMARKS_DIR);
  const inside = relative(benchmarks, dir);
  if (!inside.startsWith("..") && !isAbsolute(inside)) return inside;
  const source = join(dir, "summary.json");
  const text = await readFile(source, "utf8").catch(() => {
    throw new PublishError(`no summary.json in ${dir}`);
  });
  const folder = join(under, runId(JSON.parse(text) as BenchResults));
  await mkdir(join(benchmarks, folder), { recursive: true });
  await copyFile(source, join(benchmarks, folder, "summary.json"));
  return folder;
}

/** Publishes the given folders (see the file's comment), then writes BENCHMARKS.md, its charts and SCALING.md's generated table; returns BENCHMARKS.md's path. */
export async function publishReport(
  resultsDir: string | undefined,
  repo = REPO,
  compareDirs: string[] = [],
  citus?: { dir: string; singleDir?: string | undefined },
  citusScaleDir?: string,
): Promise<string> {
  const manifest: PublishedResults = await readManifest(repo);
  if (resultsDir !== undefined) {
    manifest.main = await publishResults(resultsDir, repo);
    manifest.nodeVersions = await Promise.all(compareDirs.map((d) => publishResults(d, repo)));
  }
  if (citus)
    manifest.citus = {
      dir: await publishResults(citus.dir, repo),
      single: citus.singleDir ? await publishResults(citus.singleDir, repo) : null,
    };
  if (citusScaleDir) manifest.citusScale = await publishResults(citusScaleDir, repo, "citus");
  await writeFile(join(repo, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  const target = join(repo, "BENCHMARKS.md");
  if (manifest.main === null && manifest.citusScale) {
    // No main run to render the whole file from: only the scale section's block is rewritten.
    const sections = await renderSections(repo, manifest);
    for (const chart of sections.charts) await writeFile(join(repo, BENCHMARKS_DIR, chart.file), chart.svg);
    const section = readGeneratedBlock(sections.citusScale ?? "", SCALE_SECTION_BLOCK) ?? "";
    const written = await readFile(target, "utf8").catch(() => "");
    await writeFile(target, replaceGeneratedBlock(written, SCALE_SECTION_BLOCK, section, await firstNoteLine(repo)));
  } else {
    const { text, charts } = await renderBenchmarks(repo);
    for (const chart of charts) await writeFile(join(repo, BENCHMARKS_DIR, chart.file), chart.svg);
    await writeFile(target, text);
  }
  if (manifest.citusScale) {
    const scaling = join(repo, "SCALING.md");
    const text = await readFile(scaling, "utf8").catch(() => "");
    const table = renderScaleBlock(await readPublished(repo, manifest.citusScale), SCALE_CHART_PATH);
    if (readGeneratedBlock(text, SCALE_TABLE_BLOCK) === undefined)
      throw new PublishError(
        `SCALING.md has no generated block ${SCALE_TABLE_BLOCK}: place its markers where the table goes`,
      );
    await writeFile(scaling, replaceGeneratedBlock(text, SCALE_TABLE_BLOCK, table));
  }
  return target;
}

/** Where a new generated section goes in BENCHMARKS.md: before the first note's first line, as a full render puts it. */
async function firstNoteLine(repo: string): Promise<RegExp | undefined> {
  for (const file of NOTES) {
    const first = (await readFile(join(repo, file), "utf8").catch(() => "")).split("\n").find((l) => l.trim() !== "");
    if (first) return new RegExp(`^${first.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
  }
  return undefined;
}

/**
 * Undefined when the generated blocks (BENCHMARKS.md's scale section,
 * SCALING.md's scale table) hold what the committed scale run renders; else
 * what differs. Nothing to check while no scale run is published.
 */
export async function checkGeneratedBlocks(repo = REPO): Promise<string | undefined> {
  const manifest = await readManifest(repo);
  if (!manifest.citusScale) return undefined;
  const scale = await readPublished(repo, manifest.citusScale);
  const { citusScale } = await renderSections(repo, manifest);
  const expected = [
    {
      file: "BENCHMARKS.md",
      block: SCALE_SECTION_BLOCK,
      text: readGeneratedBlock(citusScale ?? "", SCALE_SECTION_BLOCK),
    },
    { file: "SCALING.md", block: SCALE_TABLE_BLOCK, text: renderScaleBlock(scale, SCALE_CHART_PATH) },
  ];
  for (const { file, block, text } of expected) {
    const written = readGeneratedBlock(await readFile(join(repo, file), "utf8").catch(() => ""), block);
    if (written !== text?.trimEnd())
      return `${file}'s generated block ${block} ${written === undefined ? "is missing" : "differs from"} what ${MANIFEST} renders; regenerate it with pnpm --filter @coupler/bench report:publish`;
  }
  return undefined;
}

/** Undefined when BENCHMARKS.md is what the committed results render; else why not. */
export async function checkBenchmarks(repo = REPO): Promise<string | undefined> {
  const { text } = await renderBenchmarks(repo);
  const written = await readFile(join(repo, "BENCHMARKS.md"), "utf8").catch(() => "");
  if (written === text) return undefined;
  const a = written.split("\n");
  const b = text.split("\n");
  const line = a.findIndex((l, i) => l !== b[i]);
  return `BENCHMARKS.md differs from what ${MANIFEST} renders, first at line ${line + 1}:\n  written:  ${a[line] ?? "(end)"}\n  rendered: ${b[line] ?? "(end)"}\nRegenerate it with pnpm --filter @coupler/bench report:publish`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      citus: { type: "string" },
      "citus-single": { type: "string" },
      "citus-scale": { type: "string" },
      check: { type: "boolean" },
    },
  });
  try {
    if (values.check) {
      const manifest = await readManifest(REPO);
      const problem = (await checkGeneratedBlocks()) ?? (manifest.main === null ? undefined : await checkBenchmarks());
      process.stderr.write(
        problem ? `${problem}\n` : "BENCHMARKS.md and the generated blocks are what the committed results render\n",
      );
      process.exit(problem ? 1 : 0);
    }
    const [dir, ...compare] = positionals;
    const citus = values.citus
      ? { dir: resolve(values.citus), singleDir: values["citus-single"] ? resolve(values["citus-single"]) : undefined }
      : undefined;
    process.stdout.write(
      `${await publishReport(
        dir === undefined ? undefined : resolve(dir),
        REPO,
        compare.map((d) => resolve(d)),
        citus,
        values["citus-scale"] ? resolve(values["citus-scale"]) : undefined,
      )}\n`,
    );
  } catch (error) {
    if (!(error instanceof PublishError)) throw error;
    process.stderr.write(
      `report:publish: ${error.message}\n` +
        "usage: pnpm --filter @coupler/bench report:publish [<results dir> [Node version results dirs …]]\n" +
        "         [--citus <pnpm bench --citus --scenarios … results dir> [--citus-single <the same plan on one PostgreSQL>]]\n" +
        "         [--citus-scale <pnpm bench --citus results dir>] [--check]\n",
    );
    process.exit(64);
  }
}
