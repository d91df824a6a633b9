/**
 * One chaos run, mode after mode: a fresh database, rounds of a seeded
 * workload under faults, and the checks. Its options and result types live
 * in chaosOptions.ts and chaosResult.ts.
 */
import { randomBytes } from "node:crypto";
import {
  type CitusRoute,
  couplerOnCitus,
  createDatabase,
  createLogger,
  type Database,
  migrate,
  type OperationEvent,
  ProgressLicenseCoupler,
  runIntegrityAudit,
} from "@coupler/core";
import { adminQuery, type RunningPostgres, startEmbeddedPostgres, withDatabase } from "@coupler/embedded";
import type { ChaosMode, ChaosOptions, HttpTarget } from "./chaosOptions.ts";
import type { ChaosResult, ModeReport, RoundReport } from "./chaosResult.ts";
import { checkCoupler, type Violation } from "./checker.ts";
import { citusChaosDatabase, type CitusFaultTargets } from "./citusTarget.ts";
import { CouplerDriver, LegacyDriver, type ChaosDriver } from "./drivers.ts";
import { FaultInjector, type FaultRates } from "./faults.ts";
import { chaosConnections, type ChaosConnections } from "./citusRouting.ts";
import { startGrowth, startMove, type ClusterChange } from "./clusterChange.ts";
import { History } from "./history.ts";
import { countLegacyAnomalies } from "./legacyCounts.ts";
import { Random } from "./random.ts";
import { readSnapshot, type DbSnapshot } from "./snapshot.ts";
import { seedPairs } from "./seedPairs.ts";
import { countErrors, summarizeOps, unexpectedErrors, validatesSaw } from "./summarizeHistory.ts";
import { Workload } from "./workload.ts";

const VICTIM = "coupler-chaos";
const IN_PROCESS_ONLY = {
  killBeforeBegin: 0,
  killMidTransaction: 0,
  failMidTransaction: 0,
  killBeforeCommit: 0,
  killDuringCommit: 0,
  statementTimeout: 0,
} satisfies Partial<FaultRates>;
const ADMIN = "coupler-chaos-admin";
/** The statement timeout of the short-timeout pool (the `statementTimeout` fault), in ms. */
const SHORT_STATEMENT_TIMEOUT_MS = 5;

/**
 * One chaos run: for each mode, a fresh migrated database, a few hot pairs,
 * rounds of concurrent clients under injected faults, and a check after each
 * round (plus snapshot checks during it).
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const startedAt = new Date().toISOString();
  const server =
    options.adminUrl || options.citus
      ? undefined
      : await startEmbeddedPostgres({ fast: true, settings: { max_connections: 200 } });
  const adminUrl = options.adminUrl ?? server?.url ?? "";
  const kind = options.citus ? "citus" : server ? "embedded" : "external";
  log(
    `chaos seed=${options.seed} clients=${options.clients} ops=${options.ops} duration=${options.durationMs}ms rounds=${options.rounds} server=${kind}`,
  );
  const modes: ModeReport[] = [];
  try {
    for (const mode of options.modes)
      modes.push(await runMode(mode, options, adminUrl, options.restart ? server : undefined, log));
  } finally {
    await server?.stop();
  }
  const { log: _log, http: _http, adminUrl: _adminUrl, citus: _citus, ...rest } = options;
  return {
    seed: options.seed,
    startedAt,
    durationMs: Math.round(performance.now() - started),
    options: { ...rest, server: kind },
    modes,
    couplerViolations: modes.filter((m) => m.mode !== "legacy").reduce((sum, m) => sum + m.violationCount, 0),
  };
}

async function runMode(
  mode: ChaosMode,
  options: ChaosOptions,
  adminUrl: string,
  server: RunningPostgres | undefined,
  log: (line: string) => void,
): Promise<ModeReport> {
  let name = `coupler_chaos_${mode}_${randomBytes(4).toString("hex")}`;
  let url = withDatabase(adminUrl || "postgres://localhost/postgres", name);
  let citus: (CitusFaultTargets & { drop(): Promise<void> }) | undefined;
  if (options.citus) {
    const distributed = await citusChaosDatabase(options.citus, options.restart, options.shards);
    ({ name, url } = distributed);
    citus = { ...distributed.targets, drop: distributed.drop };
  } else {
    await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
    await migrate(url);
  }
  const logger = createLogger("chaos", "silent");
  const admin = createDatabase({
    connectionString: url,
    max: 4,
    applicationName: ADMIN,
    connectionTimeoutMillis: 5_000,
  });
  const work = createDatabase({
    connectionString: url,
    max: options.clients + 4,
    applicationName: VICTIM,
    connectionTimeoutMillis: 3_000,
  });
  const short = createDatabase({
    connectionString: url,
    max: 4,
    applicationName: VICTIM,
    connectionTimeoutMillis: 3_000,
    statementTimeoutMs: SHORT_STATEMENT_TIMEOUT_MS,
  });
  const root = new Random(options.seed);
  const history = new History();
  const seenViolations = new Map<string, Violation>();
  let http: Awaited<ReturnType<HttpTarget["start"]>> | undefined;
  const routed: ChaosConnections[] = [];
  const route = options.route ?? "direct";
  try {
    const reader = new ProgressLicenseCoupler({ pool: admin.pool, db: admin.db, logger });
    const pairs = await seedPairs(admin, reader, options);
    if (mode === "http") {
      if (!options.http) throw new Error("the http mode needs an HttpTarget");
      http = await options.http.start(url, server, route);
    }
    const injector = new FaultInjector({
      adminPool: admin.pool,
      database: name,
      victimApplicationName: http?.victimApplicationName ?? VICTIM,
      // The API runs in its own process: the in-transaction hooks and the short-timeout pool cannot reach it.
      rates: {
        ...options.faults,
        ...(mode === "http" ? IN_PROCESS_ONLY : {}),
        // --no-restart (and --grow) on Citus: no worker restarts either.
        ...(options.citus && !options.restart ? { restartsPerRound: 0 } : {}),
      },
      random: root.fork(`faults-${mode}`),
      server,
      citus,
      log,
    });
    const combined = { calls: 0, failed: 0, largestBatch: 0 };
    const observer = {
      onOperation: (event: OperationEvent) => {
        if ((event.batchSize ?? 1) <= 1) return;
        combined.calls++;
        if (event.outcome === "error") combined.failed++;
        combined.largestBatch = Math.max(combined.largestBatch, event.batchSize ?? 1);
      },
    };
    const onCitus = await couplerOnCitus(admin.pool);
    // Each pool's calls routed as ChaosOptions.route says; under direct routing on the worker that holds the learner.
    type Routing = { poolSize: number; statementTimeoutMs?: number; catalog?: Database };
    const routedOn = async (db: Database, settings: Routing) => {
      const connections = await chaosConnections(db, {
        citus: onCitus,
        route,
        connectionString: url,
        applicationName: VICTIM,
        connectionTimeoutMillis: 3_000,
        ...settings,
      });
      routed.push(connections);
      return connections.source;
    };
    const couplerOn = async (db: Database, settings: Routing) =>
      new ProgressLicenseCoupler({
        pool: db.pool,
        db: db.db,
        connections: await routedOn(db, settings),
        logger,
        lockTimeoutMs: 1_000,
        faults: injector.hooks,
        observer,
        citus: onCitus,
      });
    const driver: ChaosDriver =
      mode === "coupler"
        ? new CouplerDriver({
            normal: await couplerOn(work, { poolSize: options.clients + 4 }),
            shortTimeout: await couplerOn(short, {
              poolSize: 4,
              statementTimeoutMs: SHORT_STATEMENT_TIMEOUT_MS,
              catalog: work,
            }),
          })
        : mode === "legacy"
          ? new LegacyDriver(
              { normal: work.pool, shortTimeout: short.pool },
              reader.catalogue,
              injector.legacyHooks,
              reader,
            )
          : (http?.driver ?? unreachable());
    const workload = new Workload(driver, history, injector);
    const rounds: RoundReport[] = [];
    let snapshotsChecked = 0;
    let desyncsObservedMidRound = 0;
    const record = (violations: Violation[]) => {
      for (const v of violations) seenViolations.set(`${v.invariant}|${v.userId}|${v.specialization}|${v.detail}`, v);
      return violations.length;
    };
    log(`[${mode}] database ${name}, ${pairs.length} hot pairs`);
    const change: ClusterChange | undefined = options.grow
      ? startGrowth(options, admin, name, log)
      : citus && (options.moveShard ?? true)
        ? startMove(options, admin, pairs, citus, log)
        : undefined;
    for (let round = 1; round <= options.rounds; round++) {
      const roundMs = Math.floor(options.durationMs / options.rounds);
      const roundStarted = performance.now();
      const before = history.ops.length;
      injector.start(roundMs);
      let running = true;
      const sampler = (async () => {
        while (running) {
          await sleep(options.snapshotIntervalMs);
          if (!running) return;
          const ackedBefore = history.ackCount;
          const snapshot = await readSnapshot(admin.pool, pairs).catch(() => undefined);
          if (!snapshot) continue;
          snapshotsChecked++;
          if (mode === "legacy") {
            desyncsObservedMidRound += [...snapshot.pairs.values()].filter(
              (p) => p.progress && p.license && p.progress.level !== p.license.level,
            ).length;
          } else {
            record(checkCoupler(snapshot, history.ops, { final: false, ackedBefore }));
          }
        }
      })();
      const samplesBefore = snapshotsChecked;
      await workload.run({
        round,
        clients: options.clients,
        ops: Math.ceil(options.ops / options.rounds),
        deadline: Date.now() + roundMs,
        pairs,
        random: root,
        keyPrefix: `chaos-${options.seed}-${mode}`,
        keepGoing: round === options.rounds && change ? () => !change.done : undefined,
      });
      running = false;
      await sampler;
      await injector.stop();
      const resolved = driver.retries ? await workload.resolvePending() : 0;
      await workload.settle();
      const snapshot = await readSnapshot(admin.pool, pairs);
      const found =
        mode === "legacy"
          ? 0
          : record([...checkCoupler(snapshot, history.ops, { final: true }), ...unexpectedErrors(history)]);
      rounds.push({
        round,
        durationMs: Math.round(performance.now() - roundStarted),
        operations: history.ops.length - before,
        resolvedAfterFaults: resolved,
        violations: found,
        snapshots: snapshotsChecked - samplesBefore,
      });
      log(
        `[${mode}] round ${round}: ${history.ops.length - before} ops in ${Math.round(performance.now() - roundStarted)} ms, ${resolved} resolved after faults, ${found} violation(s)`,
      );
    }
    const changed = change && (await change.finish(history, pairs, record));
    const routing = citus && mode !== "legacy" ? await routingOf(route, routed, http, injector) : undefined;
    const integrity = await runIntegrityAudit(admin.pool);
    const finalSnapshot = await readSnapshot(admin.pool, pairs);
    if (mode !== "legacy" && integrity.violations > 0) {
      record([
        {
          invariant: "INTEGRITY_AUDIT",
          userId: -1,
          specialization: "*",
          detail: `runIntegrityAudit found ${integrity.violations} violation(s)`,
          operations: [],
        },
      ]);
    }
    const violations = [...seenViolations.values()];
    const report: ModeReport = {
      mode,
      database: name,
      rounds,
      operations: summarizeOps(history),
      attemptErrors: countErrors(history),
      worstLatencyMs: history.ops.reduce((max, op) => Math.max(max, op.latencyMs ?? 0), 0),
      faults: { ...injector.counts },
      faultsTotal: Object.values(injector.counts).reduce((a, b) => a + b, 0),
      snapshotsChecked,
      violationCount: violations.length,
      violations: violations.slice(0, 50),
      integrity,
      ...(mode === "coupler" ? { combined } : {}),
      xp: xpOf(history, finalSnapshot),
      ...(changed ?? {}),
      ...(routing ? { routing } : {}),
    };
    if (mode === "legacy") {
      report.legacy = {
        ...countLegacyAnomalies(finalSnapshot, history.ops),
        desyncsObservedMidRound,
        validatesSawDesync: validatesSaw(history, "LEVEL_MISMATCH"),
        validatesSawHistoryGap: validatesSaw(history, "HISTORY_GAP"),
      };
    }
    return report;
  } finally {
    await http?.close();
    await Promise.all(routed.map((r) => r.close()));
    await Promise.all([work.close(), short.close(), admin.close()]);
    if (citus) {
      await citus.close();
      await citus.drop();
    } else {
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    }
  }
}

/** How a mode's calls were routed on Citus, and what the routers (in process, or the API's /metrics) counted. */
async function routingOf(
  route: CitusRoute,
  routed: ChaosConnections[],
  http: Awaited<ReturnType<HttpTarget["start"]>> | undefined,
  injector: FaultInjector,
): Promise<NonNullable<ModeReport["routing"]>> {
  const counted = http
    ? await http.routing().catch(() => ({ routeMisses: -1, mapChanges: -1 }))
    : routed.reduce(
        (sum, r) => ({
          routeMisses: sum.routeMisses + (r.stats?.routeMisses ?? 0),
          mapChanges: sum.mapChanges + (r.stats?.mapChanges ?? 0),
        }),
        { routeMisses: 0, mapChanges: 0 },
      );
  return { route, ...counted, workerKillsOfDirectConnections: injector.workerKillsOfDirectConnections };
}

/** XP the clients were told was applied (acknowledged level-ups) against XP the learners' rows hold at the end. */
function xpOf(history: History, snapshot: DbSnapshot): NonNullable<ModeReport["xp"]> {
  const acknowledged = history.ops
    .filter((op) => op.kind === "levelUp" && op.status === "ok")
    .reduce((sum, op) => sum + (op.xp ?? 0), 0);
  const stored = [...snapshot.pairs.values()].reduce((sum, p) => sum + (p.progress?.totalXp ?? 0), 0);
  return { acknowledged, stored };
}

function unreachable(): never {
  throw new Error("unreachable");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
