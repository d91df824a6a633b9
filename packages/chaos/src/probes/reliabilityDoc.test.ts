import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ALL_PROBES } from "./allProbes.ts";
import { probeDocMismatches } from "./probeDocClaims.ts";

/** RELIABILITY.md at the repository root; read only, no network and no API. */
const reliabilityMd = readFileSync(new URL("../../../../RELIABILITY.md", import.meta.url), "utf8");

describe("RELIABILITY.md's Security section", () => {
  it("quotes the number of probes, each category's count and the run's table as the probes defined in packages/chaos/src/probes", () => {
    expect(probeDocMismatches(reliabilityMd, ALL_PROBES)).toEqual([]);
  });

  it("reports a probe count in the prose that differs from the probes defined", () => {
    const total = ALL_PROBES.length;
    const wrong = reliabilityMd.replace(`${total} probes in `, `${total + 1} probes in `);
    expect(probeDocMismatches(wrong, ALL_PROBES)).toEqual([`the prose says ${total + 1} probes; ${total} are defined`]);
  });

  it("reports a category count in the prose that differs from the probes defined", () => {
    const secrets = ALL_PROBES.filter((p) => p.category === "secrets").length;
    const wrong = reliabilityMd.replace(`secrets (${secrets})`, `secrets (${secrets + 2})`);
    expect(probeDocMismatches(wrong, ALL_PROBES)).toEqual([
      `the prose says secrets (${secrets + 2}); ${secrets} secrets probes are defined`,
    ]);
  });

  it("reports a second run line and a table row for a probe that is not defined", () => {
    const last = ALL_PROBES.at(-1);
    if (!last) throw new Error("no probes defined");
    const rowOf = new RegExp(`^\\| ${last.id} \\|.*$`, "m");
    const row = rowOf.exec(reliabilityMd)?.[0] ?? "";
    const wrong = reliabilityMd
      .replace(row, `${row}\n${row.replace(last.id, "retired-probe")}`)
      .replace(/^(\d+ probes: .*)$/m, "$1\n\n$1");
    expect(probeDocMismatches(wrong, ALL_PROBES)).toEqual([
      `expected one "N probes: P passed, F failed" line, found 2`,
      `the table's ${ALL_PROBES.length + 1} rows are not the ${ALL_PROBES.length} probes in run order; not defined: retired-probe (${last.category})`,
    ]);
  });
});
