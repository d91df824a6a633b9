import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderScaleReport } from "../report/renderScale.ts";
import { scaleResultsFixture } from "./scaleResultsFixture.ts";
import { scaleUnsupported } from "./scaleSetups.ts";

const notCgroup = mkdtempSync(join(tmpdir(), "not-a-cgroup-"));
afterAll(() => rmSync(notCgroup, { recursive: true, force: true }));

describe("a scale bench where it cannot run", () => {
  it("says why where the cpu hierarchy is not a writable cgroup (or Citus is missing), so the run skips its scale table", async () => {
    const reason = await scaleUnsupported(notCgroup);
    expect(reason).toMatch(
      new RegExp(
        `^(no Citus here: .+|CPU quotas cannot be set: no writable cgroup v1 cpu hierarchy at ${notCgroup} .+)$`,
      ),
    );
  });

  it("writes a report that gives the reason instead of a table", () => {
    const results = scaleResultsFixture([]);
    const skipped = {
      ...results,
      scale: {
        ...results.scale,
        nodeCores: 0.25,
        setups: [],
        pools: { apiProcesses: 1, coordinator: 50, perWorker: 50 },
        skipped: "CPU quotas cannot be set: read-only",
      },
    };
    const report = renderScaleReport(skipped, []);
    expect(report).toContain("The scale bench was skipped: CPU quotas cannot be set: read-only.");
    expect(report).not.toContain("| setup |");
  });
});
