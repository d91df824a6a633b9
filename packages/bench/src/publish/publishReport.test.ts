import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkBenchmarks, checkGeneratedBlocks, publishReport, runId } from "../publishReport.ts";
import type { BenchResults } from "../results.ts";
import { scaleResultsFixture } from "../scale/scaleResultsFixture.ts";
import { generatedBlock, readGeneratedBlock } from "./generatedBlock.ts";
import { PublishError, SCALE_SECTION_BLOCK, SCALE_TABLE_BLOCK, readManifest } from "./publishedResults.ts";

const fixtureText = readFileSync(new URL("../../test/fixtures/bench-results-quick.json", import.meta.url), "utf8");
const root = mkdtempSync(join(tmpdir(), "bench-publish-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A repository with docs/benchmarks/ and a results folder as `pnpm bench` leaves it (summary.json and k6's streams). */
function setUp(name: string): { repo: string; results: string; summary: string } {
  const repo = join(root, name);
  mkdirSync(join(repo, "docs", "benchmarks"), { recursive: true });
  writeFileSync(join(repo, "docs", "benchmarks", "run-notes.md"), "## About this run\n\nProse only.\n");
  const results = join(root, `${name}-results`);
  mkdirSync(join(results, "k6"), { recursive: true });
  const fixture = JSON.parse(fixtureText) as BenchResults;
  const summary = `${JSON.stringify({ ...fixture, source: { commit: "1a2b3c4d5e6f7a8b9c0d", dirty: false } }, null, 2)}\n`;
  writeFileSync(join(results, "summary.json"), summary);
  writeFileSync(join(results, "k6", "level-up-coupler-10.json"), "raw k6 stream");
  return { repo, results, summary };
}

describe("report:publish", () => {
  it("commits the run's summary.json under docs/benchmarks/<start>-<commit>/, names it in published.json, and renders BENCHMARKS.md from it", async () => {
    const { repo, results, summary } = setUp("publish");
    await publishReport(results, repo);
    const manifest = await readManifest(repo);
    const folder = runId(JSON.parse(summary) as BenchResults);
    expect(folder).toMatch(/^2\d{3}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-1a2b3c4$/);
    expect(manifest).toEqual({ main: folder, nodeVersions: [], citus: null, citusScale: null });
    expect(readFileSync(join(repo, "docs", "benchmarks", folder, "summary.json"), "utf8")).toBe(summary);
    expect(existsSync(join(repo, "docs", "benchmarks", folder, "k6"))).toBe(false);
    const written = readFileSync(join(repo, "BENCHMARKS.md"), "utf8");
    expect(written).toContain("## Targets");
    expect(written).toContain("commit 1a2b3c4d5e6f");
    expect(written.trimEnd().endsWith("Prose only.")).toBe(true);
    expect(await checkBenchmarks(repo)).toBeUndefined();
  });

  it("finds a hand edit of BENCHMARKS.md, and regenerates it from what is published without a results folder", async () => {
    const { repo, results } = setUp("hand-edit");
    await publishReport(results, repo);
    const file = join(repo, "BENCHMARKS.md");
    const generated = readFileSync(file, "utf8");
    const edited = generated.replace(/\| Level Up \| [^|]+ \|/, "| Level Up | 1.00 ms |");
    expect(edited).not.toBe(generated);
    writeFileSync(file, edited);
    expect(await checkBenchmarks(repo)).toMatch(
      /BENCHMARKS\.md differs from what .*published\.json renders, first at line \d+/,
    );
    await publishReport(undefined, repo);
    expect(readFileSync(file, "utf8")).toBe(generated);
  });

  it("refuses notes that hold a table, since figures come from committed results only, and writes no BENCHMARKS.md", async () => {
    const { repo, results } = setUp("table-in-notes");
    writeFileSync(join(repo, "docs", "benchmarks", "run-notes.md"), "Quiet re-run:\n\n| a | b |\n| --- | --- |\n");
    await expect(publishReport(results, repo)).rejects.toThrow(PublishError);
    await expect(publishReport(results, repo)).rejects.toThrow(/run-notes\.md:3 holds a table/);
    expect(existsSync(join(repo, "BENCHMARKS.md"))).toBe(false);
  });

  it("publishes a scale run under docs/benchmarks/citus/<start>-<commit>/, fills BENCHMARKS.md's scale section and SCALING.md's table from it, and finds a hand edit of either", async () => {
    const { repo } = setUp("scale");
    writeFileSync(
      join(repo, "BENCHMARKS.md"),
      "# Coupler benchmark\n\n## Citus\n\nPair.\n\n## About this run\n\nProse only.\n",
    );
    writeFileSync(
      join(repo, "SCALING.md"),
      `# Scaling\n\n${generatedBlock(SCALE_TABLE_BLOCK, "(not run yet)")}\n\nAfter.\n`,
    );
    const results = join(root, "scale-results");
    mkdirSync(join(results, "k6"), { recursive: true });
    const scale = scaleResultsFixture([
      { key: { workers: 0, route: "server" }, round: 1, throughput: 300, nodeMs: [0.8] },
      { key: { workers: 1, route: "direct" }, round: 1, throughput: 75, nodeMs: [0.02, 3.3] },
    ]);
    writeFileSync(join(results, "summary.json"), JSON.stringify(scale));
    writeFileSync(join(results, "k6", "scale-plain-64.json"), "raw k6 stream");
    // No main run is published: only the generated blocks are written, BENCHMARKS.md's prose stays.
    await publishReport(undefined, repo, [], undefined, results);
    const manifest = await readManifest(repo);
    expect(manifest.citusScale).toBe(join("citus", "2026-12-07T17-00-00-000Z-1a2b3c4"));
    expect(existsSync(join(repo, "docs", "benchmarks", manifest.citusScale ?? "", "summary.json"))).toBe(true);
    expect(existsSync(join(repo, "docs", "benchmarks", manifest.citusScale ?? "", "k6"))).toBe(false);
    expect(existsSync(join(repo, "docs", "benchmarks", "citus-scale.svg"))).toBe(true);
    const benchmarks = readFileSync(join(repo, "BENCHMARKS.md"), "utf8");
    expect(benchmarks.indexOf("## Citus scale-out")).toBeGreaterThan(benchmarks.indexOf("Pair."));
    expect(benchmarks.indexOf("## Citus scale-out")).toBeLessThan(benchmarks.indexOf("## About this run"));
    const scaling = readFileSync(join(repo, "SCALING.md"), "utf8");
    expect(readGeneratedBlock(scaling, SCALE_TABLE_BLOCK)).toContain("| 1 worker, direct | 75/s |");
    expect(scaling).toContain("![Level-ups per second against workers](docs/benchmarks/citus-scale.svg)");
    expect(await checkGeneratedBlocks(repo)).toBeUndefined();
    writeFileSync(
      join(repo, "SCALING.md"),
      scaling.replace("| 1 worker, direct | 75/s |", "| 1 worker, direct | 95/s |"),
    );
    expect(await checkGeneratedBlocks(repo)).toMatch(/SCALING\.md's generated block citus-scale-table differs/);
    await publishReport(undefined, repo);
    expect(readFileSync(join(repo, "SCALING.md"), "utf8")).toBe(scaling);
    expect(readGeneratedBlock(readFileSync(join(repo, "BENCHMARKS.md"), "utf8"), SCALE_SECTION_BLOCK)).toBeDefined();
  });
});
