import { describe, expect, it } from "vitest";
import { cpuSnapshot, cpuUsage, type CpuSnapshot } from "./cpuUsage.ts";

const start: CpuSnapshot = {
  atMs: 1_000,
  ticks: { loadGenerator: 100, server: 1_000, postgres: 5_000, machine: 20_000 },
};
const end: CpuSnapshot = {
  atMs: 31_000,
  ticks: { loadGenerator: 400, server: 2_800, postgres: 6_500, machine: 25_400 },
};

describe("cpuUsage", () => {
  it("turns tick deltas into CPU milliseconds, milliseconds per call and cores busy", () => {
    // 30 s at 300 calls/s; 100 ticks a second.
    const usage = cpuUsage(start, end, 9_000, 100);
    expect(usage.wallSeconds).toBe(30);
    expect(usage.cpuMs).toEqual({ loadGenerator: 3_000, server: 18_000, postgres: 15_000, machine: 54_000 });
    expect(usage.perCallMs.server).toBe(2);
    expect(usage.perCallMs.postgres).toBeCloseTo(1.6667, 4);
    expect(usage.perCallMs.loadGenerator).toBeCloseTo(0.3333, 4);
    expect(usage.perCallMs.machine).toBe(6);
    expect(usage.coresBusy).toBe(1.8);
  });

  it("honours a clock tick rate other than 100", () => {
    expect(cpuUsage(start, end, 9_000, 1_000).cpuMs.server).toBe(1_800);
  });

  it("leaves a part null when it was not read at both ends, or its counter went backwards (a process replaced)", () => {
    const usage = cpuUsage(
      { atMs: 0, ticks: { server: 50, postgres: 10 } },
      { atMs: 1_000, ticks: { server: 40, postgres: 20 } },
      10,
      100,
    );
    expect(usage.cpuMs).toEqual({ loadGenerator: null, server: null, postgres: 100, machine: null });
    expect(usage.coresBusy).toBeNull();
  });

  it("splits PostgreSQL per node when it was read as several trees, coordinator first", () => {
    const usage = cpuUsage(
      { ...start, postgresNodes: [1_000, 2_000, 2_000] },
      { ...end, postgresNodes: [1_030, 2_720, 2_750] },
      9_000,
      100,
    );
    expect(usage.perCallNodeMs?.map((v) => Number(v.toFixed(4)))).toEqual([0.0333, 0.8, 0.8333]);
    expect(cpuUsage(start, end, 9_000, 100).perCallNodeMs).toBeUndefined();
  });

  it("gives no per-call figure for a window without calls", () => {
    expect(cpuUsage(start, end, 0, 100).perCallMs).toEqual({
      loadGenerator: null,
      server: null,
      postgres: null,
      machine: null,
    });
  });
});

/** cpuSnapshot reads /proc, which only Linux has: elsewhere its test skips and says so. */
const noProc = process.platform === "linux" ? undefined : `no /proc on ${process.platform}`;
if (noProc) console.warn(`cpuUsage.test.ts: the cpuSnapshot test skipped: ${noProc}`);

describe("cpuSnapshot", () => {
  it.skipIf(noProc !== undefined)("reads this process by pid and the machine from /proc", async () => {
    const snapshot = await cpuSnapshot({
      server: { pids: [process.pid] },
      postgres: { tree: process.pid },
      loadGenerator: { pids: [2 ** 30] },
    });
    expect(snapshot.ticks.server).toBeGreaterThanOrEqual(0);
    expect(snapshot.ticks.postgres).toBeGreaterThanOrEqual(snapshot.ticks.server ?? 0);
    expect(snapshot.ticks.machine).toBeGreaterThan(0);
    expect(snapshot.ticks.loadGenerator).toBeUndefined(); // no such process
  });

  it.skipIf(noProc !== undefined)("keeps each tree's ticks of a PostgreSQL read as several trees", async () => {
    const snapshot = await cpuSnapshot({ postgres: { trees: [process.pid, process.pid] } });
    expect(snapshot.postgresNodes).toHaveLength(2);
    expect((snapshot.postgresNodes?.[0] ?? 0) * 2).toBe(snapshot.ticks.postgres);
  });
});
