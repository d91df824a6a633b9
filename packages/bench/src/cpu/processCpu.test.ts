import { describe, expect, it } from "vitest";
import type { PidStat } from "./procStat.ts";
import { clockTicksPerSecond, treeTicks } from "./processCpu.ts";

const proc = (pid: number, ppid: number, own: number, reaped = 0): PidStat => ({
  pid,
  ppid,
  comm: "postgres",
  utime: own,
  stime: 0,
  cutime: reaped,
  cstime: 0,
});

describe("treeTicks", () => {
  it("sums the root, its reaped children and every live descendant, and nothing outside the tree", () => {
    const stats = [
      proc(1, 0, 999), // init: not in the tree
      proc(100, 1, 10, 300), // postmaster: 300 ticks of backends that exited
      proc(101, 100, 50), // checkpointer
      proc(102, 100, 70, 5), // a backend that reaped a child of its own
      proc(200, 102, 4), // a grandchild
      proc(300, 1, 1_000), // k6, a sibling
    ];
    expect(treeTicks(stats, 100)).toBe(10 + 300 + 50 + 70 + 5 + 4);
  });

  it("is undefined when the root has gone", () => {
    expect(treeTicks([proc(101, 100, 50)], 100)).toBeUndefined();
  });
});

describe("clockTicksPerSecond", () => {
  it("is a positive whole number (getconf CLK_TCK, else 100)", async () => {
    const ticks = await clockTicksPerSecond();
    expect(Number.isInteger(ticks) && ticks > 0).toBe(true);
  });
});
