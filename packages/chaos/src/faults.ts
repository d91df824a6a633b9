import type pg from "pg";
import type { CouplerFaults } from "@coupler/core";
import type { LegacyHooks } from "@coupler/core/legacy";
import type { CitusFaultTargets } from "./citusTarget.ts";
import type { Random } from "./random.ts";

export type FaultKind =
  /** pg_terminate_backend on a random backend of the workload's pools, from outside. */
  | "killBackend"
  /** A transaction's own backend terminated after checkout, before BEGIN. */
  | "killBeforeBegin"
  /** Terminated mid-transaction: the pair locked, its write not yet sent (for sync, between its writes). */
  | "killMidTransaction"
  /** An error thrown at the same point. */
  | "failMidTransaction"
  /** Terminated after the last statement, before COMMIT is sent. */
  | "killBeforeCommit"
  /** Terminated from outside while COMMIT is in flight: the outcome is unknown to the client. */
  | "killDuringCommit"
  /** The call ran on a pool whose statement_timeout is a few milliseconds. */
  | "statementTimeout"
  /** The client stopped waiting for the answer (the call itself goes on). */
  | "clientAbort"
  /** The database server was stopped and started again. */
  | "restart"
  /** Citus: pg_terminate_backend on a worker backend of the workload (its own under direct routing, or the coordinator's for it); never a shard move's. */
  | "killWorkerBackend"
  /** Citus: one worker's server stopped (fast shutdown) and started again. */
  | "restartWorker"
  /** Legacy only: an error between the progress transaction and the license transaction. */
  | "failBetweenLegacyTransactions";

const FAULT_KINDS = [
  "killBackend",
  "killBeforeBegin",
  "killMidTransaction",
  "failMidTransaction",
  "killBeforeCommit",
  "killDuringCommit",
  "statementTimeout",
  "clientAbort",
  "restart",
  "killWorkerBackend",
  "restartWorker",
  "failBetweenLegacyTransactions",
] as const satisfies readonly FaultKind[];

export interface FaultRates {
  killBeforeBegin: number;
  killMidTransaction: number;
  failMidTransaction: number;
  killBeforeCommit: number;
  killDuringCommit: number;
  statementTimeout: number;
  clientAbort: number;
  failBetweenLegacyTransactions: number;
  /** Pause between two outside kills, in ms ([min, max]); null = no outside kills. */
  killIntervalMs: [number, number] | null;
  /** Restarts of the database per round (only where the server can be restarted). */
  restartsPerRound: number;
}

type RolledFault = { [K in keyof FaultRates]: FaultRates[K] extends number ? K : never }[keyof FaultRates] & FaultKind;

export const DEFAULT_FAULT_RATES: FaultRates = {
  killBeforeBegin: 0.01,
  killMidTransaction: 0.01,
  failMidTransaction: 0.03,
  killBeforeCommit: 0.01,
  killDuringCommit: 0.02,
  statementTimeout: 0.08,
  clientAbort: 0.04,
  failBetweenLegacyTransactions: 0.03,
  killIntervalMs: [100, 400],
  restartsPerRound: 1,
};

export const NO_FAULTS: FaultRates = {
  killBeforeBegin: 0,
  killMidTransaction: 0,
  failMidTransaction: 0,
  killBeforeCommit: 0,
  killDuringCommit: 0,
  statementTimeout: 0,
  clientAbort: 0,
  failBetweenLegacyTransactions: 0,
  killIntervalMs: null,
  restartsPerRound: 0,
};

/** An error the chaos suite threw on purpose; the transaction it hit rolled back. */
export class InjectedFault extends Error {
  override name = "InjectedFault";
}

export interface FaultInjectorOptions {
  /** A pool outside the workload's (its backends are never killed) used to terminate others. */
  adminPool: pg.Pool;
  database: string;
  /** application_name of the workload's connections: the kill targets. */
  victimApplicationName: string;
  rates: FaultRates;
  random: Random;
  /** The embedded server, when it may be restarted. */
  server?: { restart(): Promise<void> } | undefined;
  /**
   * On Citus: the workers. Every other outside kill then hits a worker
   * backend instead of a coordinator one, and the restarts restart a worker.
   */
  citus?: CitusFaultTargets | undefined;
  log?: (line: string) => void;
}

/**
 * Injects real failures into a running workload: terminated backends (from
 * inside a transaction through the coupler's fault hooks and from outside),
 * errors mid-transaction, tiny statement timeouts, client aborts and a
 * database restart. Faults fire only while the injector is started, so the
 * resolution phase and the final check run undisturbed.
 */
export class FaultInjector {
  readonly counts = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  /** Of `counts.killWorkerBackend`: connections the workload's own pools opened on a worker (direct routing). */
  workerKillsOfDirectConnections = 0;
  readonly #options: FaultInjectorOptions;
  #active = false;
  #loops: Promise<void>[] = [];
  #inFlight = new Set<Promise<unknown>>();
  #stopping = new AbortController();

  constructor(options: FaultInjectorOptions) {
    this.#options = options;
  }

  get active(): boolean {
    return this.#active;
  }

  /** Fault hooks for a ProgressLicenseCoupler (they do nothing while stopped). */
  readonly hooks: CouplerFaults = {
    beforeBegin: async (client) => {
      if (this.#roll("killBeforeBegin")) await killSelf(client);
    },
    midTransaction: async (client) => {
      if (this.#roll("failMidTransaction")) throw new InjectedFault("injected failure mid-transaction");
      if (this.#roll("killMidTransaction")) await killSelf(client);
    },
    beforeCommit: async (client) => {
      if (this.#roll("killBeforeCommit")) await killSelf(client);
      if (this.#roll("killDuringCommit")) {
        // Not awaited: the terminate races the COMMIT the coupler sends next.
        const pid = processIdOf(client);
        if (pid !== undefined) this.#track(this.#terminate(pid, this.#options.random.int(0, 2), nodeOf(client)));
      }
    },
  };

  /** Hooks for the legacy path. */
  readonly legacyHooks: LegacyHooks = {
    betweenTransactions: async () => {
      if (this.#roll("failBetweenLegacyTransactions"))
        throw new InjectedFault("injected failure between the legacy progress and license transactions");
    },
  };

  /** Whether this call should run on the tiny-statement-timeout pool. */
  useStatementTimeout(): boolean {
    return this.#roll("statementTimeout");
  }

  /** Milliseconds after which the client gives up waiting, or undefined. */
  abortAfterMs(): number | undefined {
    return this.#roll("clientAbort") ? this.#options.random.int(1, 40) : undefined;
  }

  /** Counts a client abort that actually cut a call short. */
  countAbort(): void {
    this.counts.clientAbort++;
  }

  start(roundMs: number): void {
    if (this.#active) return;
    this.#active = true;
    this.#stopping = new AbortController();
    const { rates, server, random, citus } = this.#options;
    if (rates.killIntervalMs) this.#loops.push(this.#killLoop(rates.killIntervalMs));
    if (citus) {
      for (let i = 0; i < rates.restartsPerRound; i++) {
        this.#loops.push(
          this.#restartWorkerAt(random.int(100, Math.max(200, Math.min(600, Math.floor(roundMs / 4)))), citus),
        );
      }
    } else if (server) {
      for (let i = 0; i < rates.restartsPerRound; i++) {
        // Early in the round: a round may end well before its time budget when its operation budget runs
        // out, and with four round trips a level-up a CI-sized round can be over in about a second.
        this.#loops.push(
          this.#restartAt(random.int(100, Math.max(200, Math.min(600, Math.floor(roundMs / 4)))), server),
        );
      }
    }
  }

  async stop(): Promise<void> {
    this.#active = false;
    this.#stopping.abort();
    await Promise.all(this.#loops);
    await Promise.allSettled([...this.#inFlight]);
    this.#loops = [];
  }

  /** Draws whether a fault fires now; counted here except client aborts (counted when one actually cuts a call). */
  #roll(kind: RolledFault): boolean {
    if (!this.#active || !this.#options.random.chance(this.#options.rates[kind])) return false;
    if (kind !== "clientAbort") this.counts[kind]++;
    return true;
  }

  async #killLoop([min, max]: [number, number]): Promise<void> {
    while (this.#active) {
      await this.#sleep(this.#options.random.int(min, max));
      if (!this.#active) return;
      try {
        const { citus, random } = this.#options;
        // On Citus half the kills go to a worker, and so does one that finds no busy coordinator backend:
        // under direct routing the coupled calls hold worker connections, not coordinator ones.
        if (citus && (random.chance(0.5) || !(await this.#killCoordinatorBackend()))) {
          const killed = await citus.killWorkerBackend(random, this.#options.victimApplicationName);
          if (killed) this.counts.killWorkerBackend++;
          if (killed?.direct) this.workerKillsOfDirectConnections++;
          continue;
        }
        if (!citus) await this.#killCoordinatorBackend();
      } catch {
        // The admin connection itself may be down (e.g. during a restart); try again next tick.
      }
    }
  }

  /** Terminates a random busy backend of the workload on the server (the coordinator on Citus); false when none was busy. */
  async #killCoordinatorBackend(): Promise<boolean> {
    const { rows } = await this.#options.adminPool.query<{ pid: number }>(
      `select pid from pg_stat_activity
       where datname = $1 and application_name = $2 and pid <> pg_backend_pid() and state <> 'idle'`,
      [this.#options.database, this.#options.victimApplicationName],
    );
    if (rows.length === 0) return false;
    await this.#terminate(this.#options.random.pick(rows).pid, 0);
    this.counts.killBackend++;
    return true;
  }

  async #restartAt(delayMs: number, server: { restart(): Promise<void> }): Promise<void> {
    await this.#sleep(delayMs);
    if (!this.#active) return;
    this.#options.log?.(`  restarting the database server`);
    const started = performance.now();
    await server.restart();
    this.counts.restart++;
    this.#options.log?.(`  database back after ${Math.round(performance.now() - started)} ms`);
  }

  async #restartWorkerAt(delayMs: number, citus: CitusFaultTargets): Promise<void> {
    await this.#sleep(delayMs);
    if (!this.#active) return;
    const started = performance.now();
    const worker = await citus.restartWorker(this.#options.random);
    this.counts.restartWorker++;
    this.#options.log?.(`  restarted Citus worker ${worker}; back after ${Math.round(performance.now() - started)} ms`);
  }

  /** Terminates `pid` after `delayMs`: on `node` when given on Citus (a worker under direct routing), else through the admin pool. */
  async #terminate(pid: number, delayMs: number, node?: { host: string; port: number }): Promise<void> {
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const { citus, adminPool } = this.#options;
    const done =
      citus && node
        ? citus.terminate(node, pid)
        : adminPool.query("select pg_terminate_backend($1::int)", [pid]).then(() => {});
    await done.catch(() => {});
  }

  #track(promise: Promise<unknown>): void {
    this.#inFlight.add(promise);
    void promise.finally(() => this.#inFlight.delete(promise));
  }

  /** Sleeps, but wakes early when the injector stops. */
  #sleep(ms: number): Promise<void> {
    const signal = this.#stopping.signal;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/** Terminates the client's own backend: the statement fails as if the server had killed the session. */
async function killSelf(client: pg.PoolClient): Promise<void> {
  await client.query("select pg_terminate_backend(pg_backend_pid())");
}

/** The host and port a connected client reached (node-postgres keeps them on the client), or undefined. */
function nodeOf(client: pg.PoolClient): { host: string; port: number } | undefined {
  const { host, port } = client as unknown as { host?: unknown; port?: unknown };
  return typeof host === "string" && typeof port === "number" ? { host, port } : undefined;
}

/** The backend pid of a connected client (node-postgres keeps it, its types do not show it). */
export function processIdOf(client: pg.PoolClient): number | undefined {
  const pid = (client as unknown as { processID?: unknown }).processID;
  return typeof pid === "number" ? pid : undefined;
}
