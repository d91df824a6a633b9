import type { BenchResults, RunResult } from "../results.ts";
import { table } from "./markdown.ts";
import { signedPercent } from "./targets.ts";

const ms = (v: number) => `${v.toFixed(2)} ms`;
const cpuMs = (v: number | null | undefined) => (v == null ? "—" : `${v.toFixed(3)} ms`);

const OPERATIONS = [
  { scenario: "validate-rate", name: "validate" },
  { scenario: "level-up-rate", name: "level-up" },
] as const;

/** Which API a fixed-rate run was made against: the shared one, or a process of its own on the before or this build. */
type Build = "shared" | "before" | "after";

/** The API's fixed-rate run of a scenario on `build`. */
function rateRun(results: BenchResults, scenario: RunResult["scenario"], build: Build): RunResult | undefined {
  return results.runs.find(
    (r) =>
      r.scenario === scenario &&
      r.target === "coupler" &&
      (build === "shared" ? !r.variant : r.variant === build) &&
      !r.skipped,
  );
}

const BUILD_LABELS: Record<Build, string> = {
  before: "before (own process)",
  after: "this (own process)",
  shared: "this",
};

/**
 * The report's "reads and level-ups at a fixed rate" section: validate and
 * level-up at the same rate against one API process, CPU per call of the API
 * and PostgreSQL, for this build and (with `--before-api`) the before build,
 * so a read's cost is read against a level-up's, and each against before, in
 * one run. Empty when no validate-rate or before run was made.
 */
export function renderReadRate(results: BenchResults): string[] {
  const hasBefore = results.runs.some((r) => r.scenario.endsWith("-rate") && r.variant === "before");
  if (!hasBefore && !results.runs.some((r) => r.scenario === "validate-rate")) return [];
  // Results from before the "after" twin existed compare the before build with the shared API.
  const hasAfter = results.runs.some((r) => r.scenario.endsWith("-rate") && r.variant === "after");
  const builds: Build[] = hasBefore ? (hasAfter ? ["before", "after", "shared"] : ["before", "shared"]) : ["shared"];
  const rows = OPERATIONS.flatMap(({ scenario, name }) =>
    builds.map((build) => {
      const run = rateRun(results, scenario, build);
      const levelUp = rateRun(results, "level-up-rate", build)?.cpu?.perCallMs.server;
      const api = run?.cpu?.perCallMs.server;
      const l = run?.k6?.latency;
      return [
        name,
        `${hasBefore ? BUILD_LABELS[build] : "this"}${run?.disturbed ? " (all rounds disturbed)" : ""}`,
        run?.k6 ? `${run.k6.throughput.toFixed(0)}/s` : "—",
        l ? ms(l.avg) : "—",
        l ? ms(l.p95) : "—",
        String(run?.droppedIterations ?? "—"),
        String(run?.k6?.failed ?? "—"),
        cpuMs(api),
        cpuMs(run?.cpu?.perCallMs.postgres),
        api != null && levelUp != null && levelUp > 0 ? `${(api / levelUp).toFixed(2)}×` : "—",
      ];
    }),
  );
  const changes = hasBefore
    ? OPERATIONS.flatMap(({ scenario, name }) => {
        const before = rateRun(results, scenario, "before")?.cpu?.perCallMs.server;
        const after = rateRun(results, scenario, hasAfter ? "after" : "shared")?.cpu?.perCallMs.server;
        return before != null && after != null && before > 0
          ? [
              `API CPU per ${name}, before → this build${hasAfter ? ", each in a process of its own" : ""}: ${cpuMs(before)} → ${cpuMs(after)} (${signedPercent(after / before - 1)}).`,
            ]
          : [];
      })
    : [];
  return [
    `## Reads and level-ups at a fixed rate (${results.plan.rate}/s)${hasBefore ? ", before and after" : ""}`,
    "`progression.validate` and `progression.levelUp` at the same fixed rate (k6 constant-arrival-rate), each against one API process, " +
      "CPU per call of the API and of PostgreSQL from /proc over the steady phase. " +
      (hasBefore
        ? "Before is the API build given as `--before-api`, in a process of its own (started and warmed up for each run), interleaved in rounds with this build's runs" +
          (hasAfter
            ? "; its twin is this build in a process of its own, started and warmed up the same way, so the two builds are compared on equal terms (the shared API has served every run before). "
            : ". ")
        : "") +
      "Figures are medians of undisturbed rounds (of all rounds where each was disturbed, marked); the last column is the API's CPU per call over its own build's level-up.",
    table(
      [
        "Operation",
        "Build",
        "Throughput",
        "Avg",
        "P95",
        "Dropped",
        "Failed",
        "API CPU/call",
        "PostgreSQL CPU/call",
        "API CPU vs level-up",
      ],
      rows,
    ),
    ...(changes.length > 0 ? [changes.join("\n")] : []),
  ];
}
