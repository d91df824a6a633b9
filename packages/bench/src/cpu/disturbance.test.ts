import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cpuSnapshot, type CpuSnapshot } from "./cpuUsage.ts";
import { isDisturbed, measureDisturbance } from "./disturbance.ts";
import { clockTicksPerSecond } from "./processCpu.ts";

const at = (
  atMs: number,
  machine: number,
  parts: Partial<Record<"loadGenerator" | "server" | "postgres", number>>,
  self: number,
  steal: number,
): CpuSnapshot => ({
  atMs,
  ticks: { machine, ...parts },
  self,
  steal,
});

describe("measureDisturbance", () => {
  it("counts the machine's busy time less every measured process, steal included, as a share of cores × wall time", () => {
    // 10 s on 2 cores at 100 ticks/s: the machine was busy 1,200 ticks, the run's processes 1,000 of them.
    const start = at(0, 10_000, { loadGenerator: 100, server: 200, postgres: 300 }, 50, 5);
    const end = at(10_000, 11_200, { loadGenerator: 300, server: 600, postgres: 650 }, 100, 25);
    const d = measureDisturbance(start, end, {
      ticksPerSecond: 100,
      cores: 2,
      parts: ["loadGenerator", "server", "postgres"],
    });
    expect(d).toEqual({
      wallSeconds: 10,
      cores: 2,
      machineMs: 12_000,
      measuredMs: 10_000,
      outsideMs: 2_000,
      stealMs: 200,
      outsideShare: 0.1,
    });
    expect(isDisturbed(d, { maxOutsideShare: 0.05, retries: 2 })).toBe(true);
    expect(isDisturbed(d, { maxOutsideShare: 0.1, retries: 2 })).toBe(false);
  });

  it("gives no figure when a measured part was not read at both ends, rather than calling its CPU outside", () => {
    const start = at(0, 10_000, { server: 200 }, 50, 0);
    const end = at(10_000, 11_200, {}, 100, 0);
    expect(measureDisturbance(start, end, { ticksPerSecond: 100, cores: 2, parts: ["server"] })).toBeUndefined();
    expect(isDisturbed(undefined, { maxOutsideShare: 0, retries: 0 })).toBe(false);
  });

  it("clamps the rounding between per-process and machine readings at zero", () => {
    const d = measureDisturbance(at(0, 100, { server: 0 }, 0, 0), at(1_000, 150, { server: 52 }, 0, 0), {
      ticksPerSecond: 100,
      cores: 2,
      parts: ["server"],
    });
    expect(d?.outsideMs).toBe(0);
  });
});

describe.runIf(process.platform === "linux")("measureDisturbance on this machine's /proc", () => {
  it("counts a CPU burner outside the measured processes as outside, and not once it is measured", async () => {
    const burner = spawn(process.execPath, ["-e", "const end = Date.now() + 20000; while (Date.now() < end);"], {
      stdio: "ignore",
    });
    try {
      const pid = burner.pid;
      if (pid === undefined) throw new Error("the burner did not start");
      await new Promise((resolve) => setTimeout(resolve, 300));
      const sources = { server: { pids: [process.pid] }, loadGenerator: { pids: [pid] } };
      const options = { ticksPerSecond: await clockTicksPerSecond(), cores: 2 };
      const start = await cpuSnapshot(sources);
      // A window long enough for the burner to get a quarter second of CPU, however loaded the box (up to 15 s).
      let end = start;
      let burnerMs = 0;
      for (const deadline = Date.now() + 15_000; burnerMs <= 250 && Date.now() < deadline;) {
        await new Promise((resolve) => setTimeout(resolve, 500));
        end = await cpuSnapshot(sources);
        burnerMs =
          (((end.ticks.loadGenerator ?? 0) - (start.ticks.loadGenerator ?? 0)) / options.ticksPerSecond) * 1000;
      }
      const outside = measureDisturbance(start, end, { ...options, parts: ["server"] });
      const measured = measureDisturbance(start, end, { ...options, parts: ["server", "loadGenerator"] });
      // The burner ran.
      expect(burnerMs).toBeGreaterThan(250);
      // The machine is read just before the processes at each end: a loaded box shifts their windows a little.
      expect(outside?.outsideMs).toBeGreaterThanOrEqual(burnerMs * 0.8);
      // Measured, the same burner moves from outside to measured, tick for tick (up to the clamp at zero).
      expect(measured?.measuredMs).toBeCloseTo((outside?.measuredMs ?? 0) + burnerMs, 6);
      expect(measured?.outsideMs).toBeCloseTo(Math.max(0, (outside?.outsideMs ?? 0) - burnerMs), 6);
    } finally {
      burner.kill();
    }
  }, 30_000);
});
