/**
 * `pnpm --filter @coupler/chaos reliability:render [--check]`: renders
 * RELIABILITY.md's published chaos runs (the block between its
 * `reliability-runs` fences) from the summaries committed under
 * docs/reliability/ (`pnpm chaos … --summary docs/reliability/<name>.json`).
 * `--check` writes nothing and exits 1 when the doc differs, so no hand edit survives.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readReliabilityRuns, renderReliabilityRuns, replaceBlock } from "./renderReliabilityRuns.ts";

const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const { values } = parseArgs({
  options: { check: { type: "boolean", default: false }, help: { type: "boolean", short: "h", default: false } },
});
if (values.help) {
  console.log("usage: pnpm --filter @coupler/chaos reliability:render [--check]");
  process.exit(0);
}
const path = join(REPO, "RELIABILITY.md");
const doc = await readFile(path, "utf8");
const rendered = replaceBlock(doc, renderReliabilityRuns(await readReliabilityRuns(REPO)));
if (values.check) {
  if (rendered !== doc) {
    console.error(
      "RELIABILITY.md's published runs differ from docs/reliability/*.json: run pnpm --filter @coupler/chaos reliability:render",
    );
    process.exit(1);
  }
} else if (rendered !== doc) {
  await writeFile(path, rendered);
  console.log(`wrote ${path}`);
}
