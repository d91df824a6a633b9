import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  BLOCK_END,
  BLOCK_START,
  readReliabilityRuns,
  renderReliabilityRuns,
  replaceBlock,
} from "./renderReliabilityRuns.ts";

/** The repository's own doc against its own committed chaos summaries (docs/reliability/*.json). */
const REPO = fileURLToPath(new URL("../../..", import.meta.url));
const reliabilityMd = readFileSync(new URL("../../../RELIABILITY.md", import.meta.url), "utf8");
const runs = await readReliabilityRuns(REPO);

describe("RELIABILITY.md's published Citus runs", () => {
  it("are exactly what the summaries committed under docs/reliability render, so no figure is typed by hand", () => {
    expect(replaceBlock(reliabilityMd, renderReliabilityRuns(runs))).toBe(reliabilityMd);
  });

  it("include the growth run and the shard-move run, each measured on a committed tree with 0 violations and exact XP", () => {
    expect(runs.map((r) => r.name)).toEqual(expect.arrayContaining(["citus-grow", "citus-move"]));
    for (const { name, run } of runs) {
      const coupled = run.modes.filter((m) => m.mode !== "legacy");
      expect({ name, dirty: run.dirty, violations: run.violations }).toEqual({ name, dirty: false, violations: 0 });
      for (const m of coupled) {
        expect({ name, mode: m.mode, unresolved: m.unresolved, xpExact: m.xp.acknowledged === m.xp.stored }).toEqual({
          name,
          mode: m.mode,
          unresolved: 0,
          xpExact: true,
        });
        expect({ name, mode: m.mode, route: m.routing?.route, moved: m.moves > 0 }).toEqual({
          name,
          mode: m.mode,
          route: "direct",
          moved: true,
        });
      }
    }
  });

  it("reports a figure edited by hand in the generated block", () => {
    const [first] = runs;
    if (!first) throw new Error("no run published under docs/reliability");
    const calls = first.run.modes[0]?.calls.toLocaleString("en-US") ?? "";
    const edited = reliabilityMd.replace(`| calls (attempts) | ${calls} (`, `| calls (attempts) | ${calls}1 (`);
    expect(edited).not.toBe(reliabilityMd);
    expect(replaceBlock(edited, renderReliabilityRuns(runs))).not.toBe(edited);
  });

  it("refuses a doc without its generated block's fences", () => {
    expect(() => replaceBlock(reliabilityMd.replace(BLOCK_START, ""), "x")).toThrow(BLOCK_START);
    expect(() => replaceBlock(reliabilityMd.replace(BLOCK_END, ""), "x")).toThrow(BLOCK_END);
  });
});
