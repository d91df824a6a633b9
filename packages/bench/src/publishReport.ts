/**
 * `pnpm --filter @coupler/bench report:publish [<results dir> [<Node version dirs> …]] [--citus <dir> [--citus-single <dir>]] [--check]`
 *
 * Publishes bench results and generates BENCHMARKS.md from them. Each results
 * folder given has its summary.json (what the report reads; never k6's raw
 * streams) copied to docs/benchmarks/<run id>/, and
 * docs/benchmarks/published.json names which folder feeds which section: the
 * first folder the main report, further ones (`--scenarios
 * single,level-up-rate` runs, one per Node version) the Node versions table,
 * `--citus` (with `--citus-single`, the same plan on one server) the Citus
 * section. Without folders it regenerates BENCHMARKS.md from what is
 * published. `--check` writes nothing and exits 1 when BENCHMARKS.md differs
 * from what the committed results render, so no hand edit survives.
 */
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { isAbsolute, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import {
  BENCHMARKS_DIR,
  MANIFEST,
  PublishError,
  readManifest,
  renderBenchmarks,
  type PublishedResults,
} from "./publish/publishedResults.ts";
import type { BenchResults } from "./results.ts";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));

/** A published run's folder name: when it started and the commit it measured, e.g. 2026-12-07T14-00-00-000Z-1a2b3c4. */
export function runId(results: Pick<BenchResults, "startedAt" | "source">): string {
  const commit = results.source?.commit?.slice(0, 7) ?? "unknown-commit";
  return `${results.startedAt.replace(/[:.]/g, "-")}-${commit}${results.source?.dirty ? "-dirty" : ""}`;
}

/**
 * Copies a results folder's summary.json under docs/benchmarks/<run id>/ (a folder
 * already under docs/benchmarks/ stays where it is) and returns its path
 * relative to docs/benchmarks/.
 */
export async function publishResults(dir: string, repo = REPO): Promise<string> {
  const benchmarks = join(repo, BENCHMARKS_DIR);
  const inside = relative(benchmarks, dir);
  if (!inside.startsWith("..") && !isAbsolute(inside)) return inside;
  const source = join(dir, "summary.json");
  const text = await readFile(source, "utf8").catch(() => {
    throw new PublishError(`no summary.json in ${dir}`);
  });
  const folder = runId(JSON.parse(text) as BenchResults);
  await mkdir(join(benchmarks, folder), { recursive: true });
  await copyFile(source, join(benchmarks, folder, "summary.json"));
  return folder;
}

/** Publishes the given folders (see the file's comment), then writes BENCHMARKS.md and its charts; returns its path. */
export async function publishReport(
  resultsDir: string | undefined,
  repo = REPO,
  compareDirs: string[] = [],
  citus?: { dir: string; singleDir?: string | undefined },
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
  await writeFile(join(repo, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  const { text, charts } = await renderBenchmarks(repo);
  for (const chart of charts) await writeFile(join(repo, BENCHMARKS_DIR, chart.file), chart.svg);
  const target = join(repo, "BENCHMARKS.md");
  await writeFile(target, text);
  return target;
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
    options: { citus: { type: "string" }, "citus-single": { type: "string" }, check: { type: "boolean" } },
  });
  try {
    if (values.check) {
      const problem = await checkBenchmarks();
      process.stderr.write(problem ? `${problem}\n` : "BENCHMARKS.md is what the committed results render\n");
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
      )}\n`,
    );
  } catch (error) {
    if (!(error instanceof PublishError)) throw error;
    process.stderr.write(
      `report:publish: ${error.message}\n` +
        "usage: pnpm --filter @coupler/bench report:publish [<results dir> [Node version results dirs …]]\n" +
        "         [--citus <pnpm bench --citus results dir> [--citus-single <the same plan on one PostgreSQL>]] [--check]\n",
    );
    process.exit(64);
  }
}
