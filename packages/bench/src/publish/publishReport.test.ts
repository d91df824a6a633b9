import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkBenchmarks, publishReport, runId } from "../publishReport.ts";
import type { BenchResults } from "../results.ts";
import { PublishError, readManifest } from "./publishedResults.ts";

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
    expect(manifest).toEqual({ main: folder, nodeVersions: [], citus: null });
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
});
