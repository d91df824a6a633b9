import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { K6SummaryError, operationResult, parseK6Summary } from "./k6Summary.ts";

// Recorded from `pnpm bench --quick` with k6 v0.48.0: 10 VUs, 2 s ramp-up, 5 s steady.
const recorded: unknown = JSON.parse(
  readFileSync(new URL("../test/fixtures/k6-summary-level-up-coupler-10.json", import.meta.url), "utf8"),
);

describe("operationResult", () => {
  it("reads the steady phase of the recorded level-up run, not the ramp-up", () => {
    const result = operationResult(parseK6Summary(recorded), "levelUp", 5);
    expect(result.latency).toEqual({
      count: 48,
      avg: 38.33677806250001,
      p50: 33.1225805,
      p95: 93.00858869999998,
      p99: 146.55297571000006,
      max: 167.439826,
    });
    expect(result.requests).toBe(48);
    expect(result.throughput).toBeCloseTo(9.6);
    expect(result.failed).toBe(0);
    expect(result.errorRate).toBe(0);
  });

  it("lists every threshold with whether it held", () => {
    const { thresholds } = operationResult(parseK6Summary(recorded), "levelUp", 5);
    expect(thresholds).toContainEqual({
      metric: "http_req_duration{operation:levelUp,phase:steady}",
      expression: "avg<5",
      ok: false,
    });
    expect(thresholds).toContainEqual({
      metric: "http_req_failed{operation:levelUp,phase:steady}",
      expression: "rate==0",
      ok: true,
    });
  });

  it("names the missing sub-metric when the summary is of another operation", () => {
    expect(() => operationResult(parseK6Summary(recorded), "sync", 5)).toThrow(
      "no metric http_req_duration{operation:sync,phase:steady}",
    );
  });

  it("refuses JSON that is not a k6 summary", () => {
    expect(() => parseK6Summary({ metrics: {} })).toThrow(K6SummaryError);
    expect(() => parseK6Summary([])).toThrow(/not a k6 summary/);
  });
});
