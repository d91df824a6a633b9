import { describe, expect, it } from "vitest";
import { latencyStats } from "./latencyStats.ts";

describe("latencyStats", () => {
  it("gives the mean and nearest-rank percentiles of the samples", () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(latencyStats(samples)).toEqual({ count: 100, avg: 50.5, p50: 50, p95: 95, p99: 99, max: 100 });
  });

  it("gives zeros for no samples", () => {
    expect(latencyStats([])).toEqual({ count: 0, avg: 0, p50: 0, p95: 0, p99: 0, max: 0 });
  });
});
