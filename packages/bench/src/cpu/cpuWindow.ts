import { cpuSnapshot, type CpuPart, type CpuSnapshot, type CpuSource } from "./cpuUsage.ts";

export type CpuSources = Partial<Record<Exclude<CpuPart, "machine">, CpuSource>>;

/** Two snapshots of `sources`, `fromMs` and `toMs` from now: a window inside a run's steady phase. */
export async function cpuWindow(
  fromMs: number,
  toMs: number,
  sources: CpuSources,
): Promise<{ start: CpuSnapshot; end: CpuSnapshot }> {
  const t0 = performance.now();
  await sleep(fromMs);
  const start = await cpuSnapshot(sources);
  await sleep(toMs - (performance.now() - t0));
  return { start, end: await cpuSnapshot(sources) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)).unref());
}
