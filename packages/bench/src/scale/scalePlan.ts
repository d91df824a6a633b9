/**
 * The Citus scale bench's plan (issue 21): which setups it measures and the
 * runs it makes. Pure: no processes, no files.
 */

/**
 * How a setup's level-ups reach PostgreSQL: `server` a plain PostgreSQL (no
 * Citus), `direct` each learner's calls on the worker holding its shard,
 * `coordinator` every call through the coordinator (COUPLER_CITUS_ROUTE).
 */
export const SCALE_ROUTES = ["server", "direct", "coordinator"] as const;
export type ScaleRoute = (typeof SCALE_ROUTES)[number];

/** What `pnpm bench --citus` measures. */
export interface ScalePlan {
  /** Worker counts, each a cluster of its own (a coordinator and that many workers), ascending. */
  workers: number[];
  /** CPU quota of every PostgreSQL node (each worker, each coordinator, the plain server), in cores. */
  nodeCores: number;
}

/** One setup of the scale bench: a plain PostgreSQL (`workers` 0, route `server`) or a cluster routed one way. */
export interface ScaleSetupKey {
  workers: number;
  route: ScaleRoute;
}

/** `pnpm bench --citus` without --citus-workers and --node-cores: the table, 1, 2 and 4 workers at a quarter core per node. */
export const DEFAULT_SCALE_PLAN: ScalePlan = { workers: [1, 2, 4], nodeCores: 0.25 };
/**
 * VUs of the scale runs unless --saturation-vus says otherwise: enough to
 * hold every node at its quota (the API's pool of 50 per node stays full),
 * few enough that at one worker a call's wait stays inside the 2 s lock
 * budget (200 VUs there failed calls as UNAVAILABLE, waiting for a connection).
 */
export const SCALE_VUS = 64;
/**
 * Learners per setup and route unless --learners says otherwise: enough
 * that no learner reaches PLAYER's top level (4,500 XP) over every round
 * and retry of the fastest setup, so each level-up does the same work.
 */
export const SCALE_LEARNERS = 5_000;

/** A setup's name in run ids and tables: "plain", "w2-direct". */
export function setupName({ workers, route }: ScaleSetupKey): string {
  return route === "server" ? "plain" : `w${workers}-${route}`;
}

/**
 * The scale bench's runs, in the order one round makes them: the plain
 * server first, then per worker count (ascending) direct and coordinator
 * side by side. Every run is the saturation level-up (no think time) at
 * `vus`, so PostgreSQL, held to its quota, is what limits it.
 */
export function scaleRuns(
  plan: ScalePlan,
  vus: number,
): { id: string; scenario: "saturation"; target: "coupler"; vus: number; scale: ScaleSetupKey }[] {
  const setups: ScaleSetupKey[] = [
    { workers: 0, route: "server" },
    ...plan.workers.flatMap((workers) => [
      { workers, route: "direct" as const },
      { workers, route: "coordinator" as const },
    ]),
  ];
  return setups.map((scale) => ({
    id: `scale-${setupName(scale)}-${vus}`,
    scenario: "saturation",
    target: "coupler",
    vus,
    scale,
  }));
}
