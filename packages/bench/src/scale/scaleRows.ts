/**
 * The scale bench's figures, one row per setup and route, and its targets
 * judged on them (issue 21). Pure: reads a results object only.
 */
import type { BenchResults, RunResult } from "../results.ts";
import { countedRounds, median, spreadOf, type Spread } from "../rounds.ts";
import type { ScaleSetupKey } from "./scalePlan.ts";

/** One setup and route over its rounds: medians (and ranges) of the rounds that count. */
export interface ScaleRow {
  key: ScaleSetupKey;
  rounds: number;
  undisturbed: number;
  /** Every round was disturbed: shown, never judged. */
  allDisturbed: boolean;
  /** Level-ups that succeeded, per second of the steady phase. */
  levelUps: Spread;
  avgMs: number;
  p95Ms: number;
  /** Failed requests per round (median). */
  errors: number;
  /** PostgreSQL CPU ms per call of each node, coordinator (or the plain server) first; undefined where unread. */
  nodeMs: number[] | undefined;
  /** The plain server's or coordinator's CPU ms per call. */
  coordinatorMs: number | undefined;
  /** The workers' CPU ms per call, summed (undefined for the plain server). */
  workersMs: number | undefined;
  /** Every node's PostgreSQL CPU ms per call, summed. */
  postgresMs: number | undefined;
  apiMs: number | undefined;
  /** Each worker's CPU over the window as a share of its quota (1 = held at the quota the whole time). */
  workerBusy: number[];
  /** CPU outside the run, as a share of the box (median over the counted rounds). */
  outsideShare: number | undefined;
  /** Most desynced, orphaned or half-missing pairs found after any round. */
  violations: number;
}

/** Successful level-ups per second of the steady phase. */
function levelUpsPerSecond(run: RunResult, steadySeconds: number): number | undefined {
  return run.k6 && steadySeconds > 0 ? (run.k6.requests - run.k6.failed) / steadySeconds : undefined;
}

/** PostgreSQL CPU per call by node: the Citus nodes as read, or the plain server's whole tree. */
function nodesOf(run: RunResult): number[] | undefined {
  if (run.cpu?.perCallNodeMs) return run.cpu.perCallNodeMs;
  const postgres = run.cpu?.perCallMs.postgres;
  return run.scale?.route === "server" && postgres != null ? [postgres] : undefined;
}

const medianOf = (values: (number | undefined | null)[]): number | undefined => {
  const known = values.filter((v): v is number => v != null);
  return known.length > 0 ? median(known) : undefined;
};

/** The scale runs of `results`, one row per setup and route, in plan order; setups without figures are left out. */
export function scaleRows(results: BenchResults): ScaleRow[] {
  const nodeCores = results.scale?.nodeCores;
  const steady = results.plan.durationSeconds;
  const byId = new Map<string, RunResult[]>();
  for (const run of results.runs)
    if (run.scale && run.k6 && !run.skipped) byId.set(run.id, [...(byId.get(run.id) ?? []), run]);
  return [...byId.values()].flatMap((rounds) => {
    const key = rounds[0]?.scale;
    if (!key) return [];
    const { counted, allDisturbed } = countedRounds(rounds);
    const perRound = counted.flatMap((r) => {
      const v = levelUpsPerSecond(r, steady);
      return v === undefined ? [] : [v];
    });
    if (perRound.length === 0) return [];
    const nodeCount = Math.max(...counted.map((r) => nodesOf(r)?.length ?? 0));
    const nodeMs =
      nodeCount === 0
        ? undefined
        : Array.from({ length: nodeCount }, (_, i) => medianOf(counted.map((r) => nodesOf(r)?.[i])) ?? 0);
    const workerBusy =
      nodeCores === undefined || key.route === "server"
        ? []
        : Array.from(
            { length: nodeCount - 1 },
            (_, i) =>
              medianOf(
                counted.map((r) => {
                  const perCall = r.cpu?.perCallNodeMs?.[i + 1];
                  return perCall === undefined || !r.cpu || r.cpu.wallSeconds <= 0
                    ? undefined
                    : (perCall * r.cpu.calls) / 1000 / r.cpu.wallSeconds / nodeCores;
                }),
              ) ?? 0,
          );
    const [coordinatorMs, ...workers] = nodeMs ?? [];
    return [
      {
        key,
        rounds: rounds.length,
        undisturbed: rounds.filter((r) => !r.disturbed).length,
        allDisturbed,
        levelUps: spreadOf(perRound),
        avgMs: medianOf(counted.map((r) => r.k6?.latency.avg)) ?? 0,
        p95Ms: medianOf(counted.map((r) => r.k6?.latency.p95)) ?? 0,
        errors: medianOf(counted.map((r) => r.k6?.failed)) ?? 0,
        nodeMs,
        coordinatorMs,
        workersMs: key.route === "server" || nodeMs === undefined ? undefined : workers.reduce((a, b) => a + b, 0),
        postgresMs: nodeMs?.reduce((a, b) => a + b, 0),
        apiMs: medianOf(counted.map((r) => r.cpu?.perCallMs.server)),
        workerBusy,
        outsideShare: medianOf(counted.map((r) => r.disturbance?.outsideShare)),
        violations: Math.max(
          0,
          ...rounds.map((r) =>
            r.integrity ? r.integrity.desynced + r.integrity.orphans + r.integrity.missingHalves : 0,
          ),
        ),
      },
    ];
  });
}

/** One target of issue 21, judged on the rows. */
export interface ScaleTarget {
  target: string;
  measured: string;
  /** null where a row it needs is missing, or every round of one was disturbed (its figures are then marked indicative). */
  met: boolean | null;
}

const x = (v: number) => `${v.toFixed(2)}×`;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const perSecond = (v: number) => `${v.toFixed(0)}/s`;

const rowOf = (rows: ScaleRow[], workers: number, route: ScaleSetupKey["route"]) =>
  rows.find((r) => r.key.workers === workers && r.key.route === route);

/**
 * A target's verdict from the rows it reads: judged on rows with an
 * undisturbed round only. Rows whose every round was disturbed still give
 * their figures, marked indicative, with no verdict.
 */
function verdict(used: ScaleRow[], measured: string, met: boolean): Pick<ScaleTarget, "measured" | "met"> {
  return used.some((r) => r.allDisturbed)
    ? { measured: `indicative only, every round of a setup it reads was disturbed: ${measured}`, met: null }
    : { measured, met };
}

/**
 * The issue's targets: direct routing's throughput at 2 and 4 workers
 * against 1 worker (≥ 1.8×, ≥ 3.2×), the coordinator's CPU per call under
 * direct routing (≤ 5% of the workers'), summed PostgreSQL CPU per
 * level-up on Citus against the plain server (≤ 1.5×), and no integrity
 * violation after any run.
 */
export function scaleTargets(rows: ScaleRow[]): ScaleTarget[] {
  const targets: ScaleTarget[] = [];
  const notMeasured = { measured: "not measured", met: null };
  const one = rowOf(rows, 1, "direct");
  for (const [workers, bound] of [
    [2, 1.8],
    [4, 3.2],
  ] as const) {
    const many = rowOf(rows, workers, "direct");
    const target = `direct routing: ${workers} workers ≥ ${bound}× the level-ups/s of 1 worker`;
    if (!one || !many) {
      targets.push({ target, ...notMeasured });
      continue;
    }
    const ratio = many.levelUps.median / one.levelUps.median;
    const measured = `${x(ratio)} (${perSecond(many.levelUps.median)} vs ${perSecond(one.levelUps.median)})`;
    targets.push({ target, ...verdict([one, many], measured, ratio >= bound) });
  }
  const direct = rows.filter((r) => r.key.route === "direct" && r.coordinatorMs !== undefined && r.workersMs);
  const shares = direct.map((r) => ({ workers: r.key.workers, share: (r.coordinatorMs ?? 0) / (r.workersMs ?? 1) }));
  targets.push({
    target: "direct routing: the coordinator's PostgreSQL CPU per call ≤ 5% of the workers' total",
    ...(shares.length === 0
      ? notMeasured
      : verdict(
          direct,
          shares.map((s) => `${s.workers} worker(s): ${pct(s.share)}`).join("; "),
          shares.every((s) => s.share <= 0.05),
        )),
  });
  const plainRow = rowOf(rows, 0, "server");
  const plain = plainRow?.postgresMs;
  const costed = direct.filter((r) => r.postgresMs !== undefined);
  const costs = costed.map((r) => ({
    workers: r.key.workers,
    ms: r.postgresMs ?? 0,
    ratio: (r.postgresMs ?? 0) / (plain ?? 1),
  }));
  targets.push({
    target:
      "direct routing: PostgreSQL CPU per level-up summed over every node ≤ 1.5× one plain PostgreSQL's, same run",
    ...(costs.length === 0 || !plainRow || !plain
      ? notMeasured
      : verdict(
          [plainRow, ...costed],
          `${costs.map((c) => `${c.workers} worker(s): ${x(c.ratio)} (${c.ms.toFixed(3)} ms)`).join("; ")}; plain ${plain.toFixed(3)} ms`,
          costs.every((c) => c.ratio <= 1.5),
        )),
  });
  const worst = rows.reduce((n, r) => Math.max(n, r.violations), 0);
  targets.push({
    target: "no desynced, orphaned or half-missing pair after any run (integrity audit)",
    measured: rows.length === 0 ? "not measured" : `most found after a run: ${worst}`,
    met: rows.length === 0 ? null : worst === 0,
  });
  return targets;
}

/** "plain", "1 worker, direct": a row's name in tables and charts. */
export function rowLabel(key: ScaleSetupKey): string {
  return key.route === "server"
    ? "plain PostgreSQL"
    : `${key.workers} worker${key.workers === 1 ? "" : "s"}, ${key.route}`;
}
