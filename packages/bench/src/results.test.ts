import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { withCurrentNames, type BenchResults } from "./results.ts";

const current = JSON.parse(
  readFileSync(new URL("../test/fixtures/bench-results-quick.json", import.meta.url), "utf8"),
) as BenchResults;

describe("withCurrentNames", () => {
  it("reads a summary.json that called validate 'validation' with core's name, as the bench now writes it", () => {
    const old = JSON.parse(
      JSON.stringify(current)
        .replaceAll('"validate"', '"validation"')
        .replaceAll('"validate-coupler', '"validation-coupler'),
    ) as BenchResults;
    expect(old.runs.some((r) => (r.scenario as string) === "validation")).toBe(true);
    expect(withCurrentNames(old)).toEqual(current);
  });

  it("leaves results already in today's names unchanged", () => {
    expect(withCurrentNames(current)).toEqual(current);
  });
});
