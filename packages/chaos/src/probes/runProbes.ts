import { ALL_PROBES } from "./allProbes.ts";
import { startProbeTarget } from "./probeTarget.ts";
import type { Probe, ProbeResult } from "./types.ts";

export interface ProbeRun {
  startedAt: string;
  durationMs: number;
  node: string;
  results: ProbeResult[];
  passed: number;
  failed: number;
}

/** A probe that has not answered in this long fails (the slowest wait about 7 s by design). */
const PROBE_TIMEOUT_MS = 20_000;

/**
 * Starts the target (embedded PostgreSQL, seeded database, built API), runs
 * `probes` one after another against it, and stops it. A probe that throws or
 * hangs fails with the reason; the run goes on.
 */
export async function runProbes(
  options: { probes?: readonly Probe[]; log?: (line: string) => void } = {},
): Promise<ProbeRun> {
  const probes = options.probes ?? ALL_PROBES;
  const log = options.log ?? (() => {});
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const target = await startProbeTarget();
  const results: ProbeResult[] = [];
  try {
    log(`probing ${target.url} with ${probes.length} probes`);
    for (const probe of probes) {
      const began = performance.now();
      const outcome = await withTimeout(probe.run(target), PROBE_TIMEOUT_MS).catch((error: unknown) => ({
        actual: `threw: ${error instanceof Error ? error.message : String(error)}`,
        pass: false,
      }));
      const { run: _run, ...described } = probe;
      results.push({ ...described, ...outcome, ms: Math.round(performance.now() - began) });
      log(`${outcome.pass ? "PASS" : "FAIL"} ${probe.id}: ${outcome.actual}`);
    }
  } finally {
    await target.close();
  }
  const failed = results.filter((r) => !r.pass).length;
  return {
    startedAt,
    durationMs: Math.round(performance.now() - started),
    node: process.version,
    results,
    passed: results.length - failed,
    failed,
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`no outcome within ${ms} ms`)), ms)),
  );
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
