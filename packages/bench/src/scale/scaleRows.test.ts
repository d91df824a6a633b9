import { describe, expect, it } from "vitest";
import { scaleResultsFixture, type FixtureRound } from "./scaleResultsFixture.ts";
import { scaleRows, scaleTargets } from "./scaleRows.ts";

/** Three rounds of a setup at these level-ups a second, the same CPU per call in each. */
const rounds = (key: FixtureRound["key"], throughputs: number[], nodeMs: number[]): FixtureRound[] =>
  throughputs.map((throughput, i) => ({ key, round: i + 1, throughput, nodeMs }));

const scalingWell: FixtureRound[] = [
  ...rounds({ workers: 0, route: "server" }, [290, 300, 310], [0.8]),
  ...rounds({ workers: 1, route: "direct" }, [70, 75, 80], [0.02, 3.3]),
  ...rounds({ workers: 1, route: "coordinator" }, [60, 62, 64], [1.2, 3.8]),
  ...rounds({ workers: 2, route: "direct" }, [140, 140, 140], [0.02, 0.6, 0.6]),
  ...rounds({ workers: 2, route: "coordinator" }, [100, 100, 100], [2.0, 1.5, 1.5]),
  ...rounds({ workers: 4, route: "direct" }, [280, 290, 300], [0.02, 0.3, 0.3, 0.3, 0.3]),
  ...rounds({ workers: 4, route: "coordinator" }, [110, 110, 110], [2.1, 1, 1, 1, 1]),
];

describe("scaleRows", () => {
  it("gives each setup and route the median and range of its undisturbed rounds, in plan order", () => {
    const rows = scaleRows(
      scaleResultsFixture([
        ...scalingWell,
        { key: { workers: 1, route: "direct" }, round: 4, throughput: 10, nodeMs: [9, 9], disturbed: true },
      ]),
    );
    expect(rows.map((r) => `${r.key.workers}-${r.key.route}`)).toEqual([
      "0-server",
      "1-direct",
      "1-coordinator",
      "2-direct",
      "2-coordinator",
      "4-direct",
      "4-coordinator",
    ]);
    const one = rows[1];
    expect(one?.levelUps).toEqual({ median: 75, min: 70, max: 80 });
    expect(one).toMatchObject({ rounds: 4, undisturbed: 3, allDisturbed: false, coordinatorMs: 0.02 });
  });

  it("counts only the level-ups that succeeded, the failed calls as errors beside them", () => {
    const [row] = scaleRows(
      scaleResultsFixture([
        { key: { workers: 1, route: "direct" }, round: 1, throughput: 60, nodeMs: [0, 4], failed: 300 },
      ]),
    );
    expect(row?.levelUps.median).toBe(60);
    expect(row?.errors).toBe(300);
  });

  it("sums the workers' CPU per call apart from the coordinator's, and gives each worker's CPU as a share of its quota", () => {
    const row = scaleRows(scaleResultsFixture(scalingWell)).find(
      (r) => r.key.workers === 2 && r.key.route === "direct",
    );
    expect(row?.workersMs).toBeCloseTo(1.2, 10);
    expect(row?.postgresMs).toBeCloseTo(1.22, 10);
    // 0.6 ms a call at 140 calls a second is 84 ms a second: 34% of a quarter core.
    expect(row?.workerBusy.map((b) => Number(b.toFixed(3)))).toEqual([0.336, 0.336]);
    const plain = scaleRows(scaleResultsFixture(scalingWell))[0];
    expect(plain).toMatchObject({ postgresMs: 0.8, coordinatorMs: 0.8, workersMs: undefined, workerBusy: [] });
  });
});

describe("scaleTargets", () => {
  it("judges scaling and the coordinator off the path met, and the per-call cost not met while one worker costs 4× one server", () => {
    const targets = scaleTargets(scaleRows(scaleResultsFixture(scalingWell)));
    expect(targets.map((t) => t.met)).toEqual([true, true, true, false, true]);
    expect(targets[0]?.measured).toBe("1.87× (140/s vs 75/s)");
    expect(targets[1]?.measured).toBe("3.87× (290/s vs 75/s)");
    // 0.02 ms of 3.3 ms at one worker is 0.6%; of 1.2 ms at two, 1.7%; of 1.2 ms at four, 1.7%: all within 5%.
    expect(targets[2]?.measured).toBe("1 worker(s): 0.6%; 2 worker(s): 1.7%; 4 worker(s): 1.7%");
    expect(targets[3]?.measured).toMatch(
      /^1 worker\(s\): 4\.15× \(3\.320 ms\); 2 worker\(s\): 1\.52× .*; plain 0\.800 ms$/,
    );
  });

  it("finds 4 workers short of 3.2× one worker, and a coordinator above 5% of the workers' CPU", () => {
    const rows = scaleRows(
      scaleResultsFixture([
        ...rounds({ workers: 1, route: "direct" }, [100], [0.02, 2]),
        ...rounds({ workers: 2, route: "direct" }, [180], [0.2, 1, 1]),
        ...rounds({ workers: 4, route: "direct" }, [300], [0.02, 0.5, 0.5, 0.5, 0.5]),
      ]),
    );
    const [two, four, coordinator, cost, integrity] = scaleTargets(rows);
    expect(two?.met).toBe(true);
    expect(four).toMatchObject({ met: false, measured: "3.00× (300/s vs 100/s)" });
    expect(coordinator).toMatchObject({ met: false });
    expect(cost).toMatchObject({ met: null, measured: "not measured" });
    expect(integrity?.met).toBe(true);
  });

  it("judges nothing on a setup whose every round was disturbed, giving its figures as indicative, and fails the integrity target on a desynced pair", () => {
    const rows = scaleRows(
      scaleResultsFixture([
        { key: { workers: 1, route: "direct" }, round: 1, throughput: 100, nodeMs: [0, 2], disturbed: true },
        { key: { workers: 2, route: "direct" }, round: 1, throughput: 200, nodeMs: [0, 1, 1], desynced: 1 },
      ]),
    );
    expect(rows[0]?.allDisturbed).toBe(true);
    const [two, four, , , integrity] = scaleTargets(rows);
    expect(two).toMatchObject({
      met: null,
      measured: "indicative only, every round of a setup it reads was disturbed: 2.00× (200/s vs 100/s)",
    });
    expect(four).toMatchObject({ met: null, measured: "not measured" });
    expect(integrity).toMatchObject({ met: false, measured: "most found after a run: 1" });
  });
});
