import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { ReliabilityMode, ReliabilityRun } from "./reliabilityRun.ts";

/** Where published chaos summaries live, from the repository's root (one JSON file per scenario). */
export const RELIABILITY_DIR = "docs/reliability";

/** The generated block's fences in RELIABILITY.md. */
export const BLOCK_START =
  "<!-- reliability-runs: generated from docs/reliability/*.json by `pnpm --filter @coupler/chaos reliability:render`; do not edit by hand -->";
export const BLOCK_END = "<!-- /reliability-runs -->";

/** Every published run under `repo`/docs/reliability, by file name (`citus-grow.json` → `citus-grow`), in name order. */
export async function readReliabilityRuns(repo: string): Promise<{ name: string; run: ReliabilityRun }[]> {
  const dir = join(repo, RELIABILITY_DIR);
  const files = (await readdir(dir)).filter((f) => f.endsWith(".json")).sort();
  return Promise.all(
    files.map(async (file) => ({
      name: file.replace(/\.json$/, ""),
      run: JSON.parse(await readFile(join(dir, file), "utf8")) as ReliabilityRun,
    })),
  );
}

/** The Markdown of the published runs: per run, what ran, then a table with a column per mode. */
export function renderReliabilityRuns(runs: readonly { name: string; run: ReliabilityRun }[]): string {
  return runs.map(({ name, run }) => renderRun(name, run)).join("\n\n");
}

/**
 * `doc` with its generated block replaced by `block`. Throws when the doc
 * lacks the fences (BLOCK_START … BLOCK_END), or has them twice.
 */
export function replaceBlock(doc: string, block: string): string {
  const start = doc.indexOf(BLOCK_START);
  const end = doc.indexOf(BLOCK_END);
  if (start < 0 || end < start || doc.indexOf(BLOCK_START, start + 1) >= 0)
    throw new Error(`expected one generated block fenced by "${BLOCK_START}" and "${BLOCK_END}"`);
  return `${doc.slice(0, start + BLOCK_START.length)}\n\n${block}\n\n${doc.slice(end)}`;
}

function renderRun(name: string, run: ReliabilityRun): string {
  const commit = run.commit ? `${run.commit.slice(0, 7)}${run.dirty ? " (with uncommitted changes)" : ""}` : "unknown";
  const head =
    `**${name}** (\`${RELIABILITY_DIR}/${name}.json\`): \`${run.command}\`, seed ${run.seed}, ` +
    `on ${run.startedAt.slice(0, 10)} at commit ${commit}; ${run.clients} clients, ${run.learners} learners` +
    `${run.shards ? `, ${run.shards} shards per table` : ""}, ` +
    `wall time ${(run.wallMs / 1000).toFixed(1)} s. Violations: **${run.violations}**.`;
  const modes = run.modes.filter((m) => m.mode !== "legacy");
  const row = (label: string, cell: (m: ReliabilityMode) => string) => `| ${label} | ${modes.map(cell).join(" | ")} |`;
  const table = [
    `| | ${modes.map((m) => m.mode).join(" | ")} |`,
    `|---|${modes.map(() => "---").join("|")}|`,
    row("calls (attempts)", (m) => `${n(m.calls)} (${n(m.attempts)})`),
    row("unresolved", (m) => n(m.unresolved)),
    row("violations", (m) => `**${n(m.violations)}**`),
    row("XP acknowledged / in the rows", (m) => `${n(m.xp.acknowledged)} / ${n(m.xp.stored)}`),
    row(
      "backend kills: coordinator / workers (of them the clients' own worker connections) / inside a transaction",
      (m) =>
        `${n(m.kills.coordinator)} / ${n(m.kills.workers)} (${n(m.kills.workersDirect)}) / ${n(m.kills.inTransaction)}`,
    ),
    row("crash-restarts", (m) => n(m.restarts)),
    row("shard moves finished", (m) => n(m.moves)),
    row("retryable errors (all retried)", (m) => codes(m.retryableErrors)),
    row("while the cluster changed", (m) =>
      m.duringChange
        ? `${seconds(m.duringChange.durationMs)}: ${n(m.duringChange.calls)} calls, retryable errors ${codes(m.duringChange.retryableErrors)}, worst latency ${n(m.duringChange.worstLatencyMs)} ms`
        : "—",
    ),
    row("worst latency (retries included)", (m) => `${n(m.worstLatencyMs)} ms`),
    row("routing", (m) =>
      m.routing
        ? `${m.routing.route}; ${n(m.routing.mapChanges)} map change(s) seen, ${m.routing.routeMisses < 0 ? "route misses unknown" : `${n(m.routing.routeMisses)} route miss(es)`}`
        : "—",
    ),
    row("calls that shared a transaction (write combining)", (m) =>
      m.combinedCalls === undefined ? "— (in the API process)" : n(m.combinedCalls),
    ),
  ];
  return `${head}\n\n${table.join("\n")}`;
}

function n(value: number): string {
  return value.toLocaleString("en-US");
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function codes(errors: Record<string, number>): string {
  const entries = Object.entries(errors).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? "none" : entries.map(([code, count]) => `${code} ${n(count)}`).join(", ");
}
