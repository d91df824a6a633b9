import { describe, expect, it } from "vitest";
import { lockStats } from "./lockStats.ts";
import { parsePrometheus, sumOf } from "./prometheus.ts";

const exposition = (ops: number, waitSum: number, buckets: [string, number][], contended: number, errors: number) => `
# HELP coupler_operations_total Coupler calls.
# TYPE coupler_operations_total counter
coupler_operations_total{operation="levelUp",outcome="applied",code=""} ${ops - errors}
coupler_operations_total{operation="levelUp",outcome="error",code="LOCK_TIMEOUT"} ${errors}
coupler_operations_total{operation="sync",outcome="noop",code=""} 7
# TYPE coupler_lock_wait_seconds histogram
${buckets.map(([le, n]) => `coupler_lock_wait_seconds_bucket{le="${le}",operation="levelUp"} ${n}`).join("\n")}
coupler_lock_wait_seconds_sum{operation="levelUp"} ${waitSum}
coupler_lock_wait_seconds_count{operation="levelUp"} ${ops}
coupler_lock_contention_total{operation="levelUp"} ${contended}
coupler_deadlocks_total 0
coupler_retries_total{operation="levelUp"} 0
http_request_duration_seconds_count{procedure="progression.levelUp",status="200"} 5
`;

describe("parsePrometheus", () => {
  it("reads names, labels and values and skips comments", () => {
    const samples = parsePrometheus('# HELP x y\nx_total{a="1",b="two \\"q\\""} 3\ny 4.5\nz{le="+Inf"} +Inf\n');
    expect(samples).toEqual([
      { name: "x_total", labels: { a: "1", b: 'two "q"' }, value: 3 },
      { name: "y", labels: {}, value: 4.5 },
      { name: "z", labels: { le: "+Inf" }, value: Infinity },
    ]);
  });

  it("sums the samples whose labels match", () => {
    const samples = parsePrometheus(exposition(10, 0.01, [], 0, 2));
    expect(sumOf(samples, "coupler_operations_total", { operation: "levelUp" })).toBe(10);
    expect(sumOf(samples, "coupler_operations_total")).toBe(17);
  });
});

describe("lockStats", () => {
  it("takes the run's share of contended calls and its lock waits from the difference of two scrapes", () => {
    const before = parsePrometheus(
      exposition(
        100,
        0.05,
        [
          ["0.001", 90],
          ["0.005", 100],
          ["+Inf", 100],
        ],
        5,
        0,
      ),
    );
    const after = parsePrometheus(
      exposition(
        300,
        0.45,
        [
          ["0.001", 150],
          ["0.005", 280],
          ["0.01", 295],
          ["+Inf", 300],
        ],
        45,
        3,
      ),
    );
    const stats = lockStats(before, after, "levelUp");
    expect(stats.operations).toBe(200);
    expect(stats.contended).toBe(40);
    expect(stats.contentionShare).toBeCloseTo(0.2);
    expect(stats.lockWaitAvgMs).toBeCloseTo(2);
    // 200 new observations: 60 ≤ 1 ms, 180 ≤ 5 ms, 195 ≤ 10 ms; the 95th (190th) falls in the 10 ms bucket.
    expect(stats.lockWaitP95Ms).toBe(10);
    expect(stats.errors).toBe(3);
    expect(stats.errorsByCode).toEqual({ LOCK_TIMEOUT: 3 });
  });

  it("splits the run's contended calls by cause: rows found locked, and calls queued in memory", () => {
    const scrape = (calls: number, rowLocked: number, queued: number) =>
      parsePrometheus(`coupler_lock_wait_seconds_count{operation="levelUp"} ${calls}
coupler_lock_contention_total{operation="levelUp",cause="row_lock"} ${rowLocked}
coupler_lock_contention_total{operation="levelUp",cause="queue"} ${queued}
`);
    const stats = lockStats(scrape(100, 1, 10), scrape(300, 5, 190), "levelUp");
    expect(stats.contended).toBe(184);
    expect(stats.contentionShare).toBeCloseTo(0.92);
    expect(stats.rowLockShare).toBeCloseTo(0.02);
    expect(stats.queueShare).toBeCloseTo(0.9);
  });

  it("leaves the causes unknown for an API that counts contended calls without a cause label", () => {
    const before = parsePrometheus(exposition(100, 0.05, [], 5, 0));
    const after = parsePrometheus(exposition(300, 0.45, [], 45, 0));
    expect(lockStats(before, after, "levelUp")).toMatchObject({
      contentionShare: 0.2,
      rowLockShare: undefined,
      queueShare: undefined,
    });
  });

  it("reports zeros for an operation the API never saw", () => {
    const samples = parsePrometheus(exposition(1, 0, [], 0, 0));
    expect(lockStats(samples, samples, "validate")).toMatchObject({
      operations: 0,
      contentionShare: 0,
      lockWaitAvgMs: 0,
      lockWaitP95Ms: 0,
    });
  });
});
