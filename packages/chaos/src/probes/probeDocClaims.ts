import type { Probe, ProbeCategory } from "./types.ts";

/**
 * The words RELIABILITY.md's prose uses for each probe category, as in
 * "… roles and learner boundaries (13), input (16) …". A label the doc uses
 * that is not here, or a category without its label, is reported.
 */
export const CATEGORY_LABELS: Readonly<Record<ProbeCategory, string>> = {
  "token forgery": "token forgery",
  "token lifetime": "token lifetime",
  roles: "roles and learner boundaries",
  input: "input",
  bodies: "bodies",
  metrics: "/metrics",
  idempotency: "idempotency scope",
  "slow clients": "slow clients",
  http: "HTTP",
  secrets: "secrets",
};

/**
 * Where a Markdown document's claims about the security probes disagree with
 * the probes defined in code. The document must hold, once each:
 * - the prose line "N probes in M categories: label (n), …, and label (n).";
 * - the probe run's table (`| probe | category | …`), one row per probe, in run order;
 * - the run's closing line "N probes: P passed, F failed (…)".
 *
 * Returns one sentence per disagreement, empty when the document is in step.
 * Pure: reads no file and runs no probe (RELIABILITY.md's own check is
 * `reliabilityDoc.test.ts`).
 */
export function probeDocMismatches(markdown: string, probes: readonly Pick<Probe, "id" | "category">[]): string[] {
  const problems: string[] = [];
  const total = probes.length;
  const counts = new Map<ProbeCategory, number>();
  for (const probe of probes) counts.set(probe.category, (counts.get(probe.category) ?? 0) + 1);
  // The prose wraps lines anywhere; read it as one line.
  const prose = markdown.replaceAll(/\s+/g, " ");

  const summaries = [...prose.matchAll(/(\d+) probes in (\d+) categories: (.*?)\.(?: |$)/g)];
  if (summaries.length !== 1)
    problems.push(`expected one "N probes in M categories: …" line, found ${summaries.length}`);
  const [, claimedTotal, claimedCategories, list = ""] = summaries[0] ?? [];
  if (claimedTotal !== undefined && Number(claimedTotal) !== total)
    problems.push(`the prose says ${claimedTotal} probes; ${total} are defined`);
  if (claimedCategories !== undefined && Number(claimedCategories) !== counts.size) {
    problems.push(`the prose says ${claimedCategories} categories; the probes use ${counts.size}`);
  }
  const byLabel = new Map(
    Object.entries(CATEGORY_LABELS).map(([category, label]) => [label, category as ProbeCategory]),
  );
  const named = new Set<ProbeCategory>();
  for (const [, text = "", n] of list.matchAll(/([^,()]+) \((\d+)\)/g)) {
    // "…, HTTP (6) and secrets (4)": the last label follows an "and".
    const rawLabel = text.trim().replace(/^and /, "");
    const category = byLabel.get(rawLabel);
    if (category === undefined) {
      problems.push(`the prose names a category "${rawLabel}" that CATEGORY_LABELS does not know`);
      continue;
    }
    named.add(category);
    const defined = counts.get(category) ?? 0;
    if (Number(n) !== defined)
      problems.push(`the prose says ${rawLabel} (${n}); ${defined} ${category} probes are defined`);
  }
  if (summaries.length === 1) {
    for (const category of counts.keys())
      if (!named.has(category))
        problems.push(`the prose does not name the category ${category} (${counts.get(category)})`);
  }

  const runLines = [...markdown.matchAll(/^(\d+) probes: (\d+) passed, (\d+) failed \(/gm)];
  if (runLines.length !== 1)
    problems.push(`expected one "N probes: P passed, F failed" line, found ${runLines.length}`);
  for (const [line, n, passed, failed] of runLines) {
    if (Number(n) !== total) problems.push(`"${line}…" counts ${n} probes; ${total} are defined`);
    if (Number(passed) + Number(failed) !== Number(n))
      problems.push(`"${line}…": passed and failed do not add up to ${n}`);
  }

  const rows = tableRows(markdown);
  const documented = rows.map((r) => `${r.id} (${r.category})`);
  const defined = probes.map((p) => `${p.id} (${p.category})`);
  if (documented.join("\n") !== defined.join("\n")) {
    const missing = defined.filter((p) => !documented.includes(p));
    const extra = documented.filter((p) => !defined.includes(p));
    problems.push(
      `the table's ${rows.length} rows are not the ${total} probes in run order` +
        (missing.length > 0 ? `; missing: ${missing.join(", ")}` : "") +
        (extra.length > 0 ? `; not defined: ${extra.join(", ")}` : ""),
    );
  }
  return problems;
}

/** The probe id and category of each row of the `| probe | category | …` table. */
function tableRows(markdown: string): { id: string; category: string }[] {
  const lines = markdown.split("\n");
  const header = lines.findIndex((l) => l.startsWith("| probe | category |"));
  if (header < 0) return [];
  const rows: { id: string; category: string }[] = [];
  for (const line of lines.slice(header + 2)) {
    if (!line.startsWith("|")) break;
    const [, id = "", category = ""] = line.split("|").map((cell) => cell.trim());
    rows.push({ id, category });
  }
  return rows;
}
