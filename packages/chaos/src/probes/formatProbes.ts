import type { ProbeRun } from "./runProbes.ts";

/** The run as a Markdown table, one row per probe, and a closing count. */
export function formatProbeTable(run: ProbeRun): string {
  const rows = run.results.map(
    (r) =>
      `| ${cell(r.id)} | ${cell(r.category)} | ${cell(r.sends)} | ${cell(r.expected)} | ${cell(r.actual)} | ${r.pass ? "pass" : "**FAIL**"} |`,
  );
  return [
    "| probe | category | sends | expected | actual | result |",
    "|---|---|---|---|---|---|",
    ...rows,
    "",
    `${run.results.length} probes: ${run.passed} passed, ${run.failed} failed (${(run.durationMs / 1000).toFixed(1)} s, node ${run.node}).`,
  ].join("\n");
}

/** Pipes and newlines would break the table; backslash-escaped and flattened. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll(/\s*\n\s*/g, " ");
}
