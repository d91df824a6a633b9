import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { renderCitusScalingTable } from "../report/renderCitus.ts";
import { checkBenchmarks, checkGeneratedBlocks } from "../publishReport.ts";
import { readManifest, readPublished, renderSections } from "./publishedResults.ts";

/** The repository's own docs against its own committed results (docs/benchmarks/published.json). */
const REPO = fileURLToPath(new URL("../../../..", import.meta.url));
const manifest = await readManifest(REPO);
const doc = (file: string) => readFileSync(new URL(`../../../../${file}`, import.meta.url), "utf8");

describe("the published benchmark docs", () => {
  it("name a Citus pair in docs/benchmarks/published.json, committed with its summary.json files", () => {
    expect(manifest.citus).toEqual({ dir: "citus/citus", single: "citus/single" });
  });

  it("carry BENCHMARKS.md's Citus section exactly as the committed Citus results render it", async () => {
    const { citus } = await renderSections(REPO, manifest);
    expect(citus).toBeDefined();
    expect(doc("BENCHMARKS.md")).toContain((citus ?? "").trimEnd());
  });

  it("carry SCALING.md's Citus table exactly as the same committed results give it", async () => {
    if (!manifest.citus?.single) throw new Error("published.json names no single-server twin of the Citus run");
    const table = renderCitusScalingTable(
      await readPublished(REPO, manifest.citus.dir),
      await readPublished(REPO, manifest.citus.single),
    );
    expect(doc("SCALING.md")).toContain(table);
  });

  it("carry BENCHMARKS.md's scale section and SCALING.md's scale table exactly as the committed scale run renders them, naming the commit it measured", async () => {
    expect(manifest.citusScale).toMatch(/^citus\/\d{4}-\d\d-\d\dT[\d-]+Z-[0-9a-f]{7}$/);
    const scale = await readPublished(REPO, manifest.citusScale ?? "");
    expect(scale.source?.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(scale.scale?.skipped).toBeUndefined();
    expect(await checkGeneratedBlocks(REPO)).toBeUndefined();
  });

  // The whole file is checked once a full run is published: until then its main tables come from a run
  // that was never committed (BENCHMARKS.md's own notes say so), and there is nothing to render them from.
  it.skipIf(manifest.main === null)(
    "keep BENCHMARKS.md equal to what the committed results and notes render, so no hand edit survives",
    async () => {
      expect(await checkBenchmarks(REPO)).toBeUndefined();
    },
  );
  if (manifest.main === null)
    console.warn(
      "benchmarksDoc.test.ts: BENCHMARKS.md as a whole is not checked yet: docs/benchmarks/published.json has no main run (publish the final full run with report:publish <results dir>)",
    );
});
