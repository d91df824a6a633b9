import type pg from "pg";
import type { ConnectionSource } from "../coupler/ConnectionSource.ts";
import { createDatabase, describeDbError, type Database, type DatabaseOptions } from "../client.ts";
import type { Logger } from "../logger.ts";
import type { CouplerObserver } from "../observer.ts";
import { redactUrl } from "../redact.ts";
import { prepareClaim, type ShardTables } from "./ShardTables.ts";
import { readWorkerMap, type ShardNode, type WorkerMap } from "./WorkerMap.ts";

/** `direct`: a learner's calls go to the worker holding the learner's shard; `coordinator`: every call goes through the coordinator. */
export type CitusRoute = "direct" | "coordinator";

export interface CitusRouterOptions {
  /** The coordinator's pool: catalog reads, calls that span learners, and every call under `coordinator` routing. */
  coordinator: pg.Pool;
  /** Where the worker map is read (default `coordinator`): a pool whose statement timeout leaves room for the catalog query. */
  catalog?: pg.Pool;
  /** The coordinator's URL (DATABASE_URL): its user, password, database and parameters are the workers' too, unless an address says otherwise. */
  connectionString: string;
  /** Default `direct`. Under `direct`, a node without synced metadata still gets its learners through the coordinator. */
  route?: CitusRoute;
  /**
   * Where the API reaches each node, keyed `nodename:nodeport` as pg_dist_node
   * names it: `host:port` (credentials from `connectionString`) or a full
   * `postgres://` URL (its own credentials and database). Nodes not listed are
   * reached at their pg_dist_node address.
   */
  addresses?: Readonly<Record<string, string>>;
  /** Connections per worker pool (default 10). */
  poolSizePerWorker?: number;
  /**
   * Whether the claim's statements are prepared on each worker connection
   * (default true; `ShardTables.claimOn`). Off with the coupler's
   * `preparedStatements: false` (a transaction pooler that cannot keep them).
   */
  preparedStatements?: boolean;
  /**
   * Settings every worker pool gets besides its size: how long a checkout
   * waits for a new connection (ms, default 10,000) and a server-side
   * statement timeout (ms, default none), as `createDatabase` takes them.
   */
  workerPool?: Pick<DatabaseOptions, "connectionTimeoutMillis" | "statementTimeoutMs">;
  /** How often the catalog is re-read, in ms (default 1,000); 0: never on a timer (tests call `refresh()`). */
  refreshIntervalMs?: number;
  /** The table whose shards place the learners (default `users`, the co-location group's lead). */
  table?: string;
  /** Told of each detected route miss (`onRouteMiss`) and each map change (`onWorkerMapChange`). */
  observer?: Pick<CouplerObserver, "onRouteMiss" | "onWorkerMapChange">;
  logger?: Logger;
  applicationName?: string;
}

/** How `CitusRouter` routed one learner, for logs and tests. */
export interface RouteDecision {
  route: CitusRoute;
  shardId: string | undefined;
  /** The node's pg_dist_node address, `nodename:nodeport`, when routed direct. */
  node: string | undefined;
  /** Why a call goes through the coordinator when it does. */
  reason?: "setting" | "no map" | "no shard" | "node not synced" | "no active node";
}

/** Counters since start: what the API exports as metrics and tests read. */
export interface RouterStats {
  refreshes: number;
  mapChanges: number;
  refreshFailures: number;
  routeMisses: number;
}

/**
 * Where a learner's coupled transaction gets its connection on Citus
 * (a ConnectionSource): the pool of the worker that holds the learner's
 * shard, found in process (Citus's hash, `shardHash.ts`, over the map
 * `readWorkerMap` reads from the catalog). No query per call.
 *
 * The map is re-read every `refreshIntervalMs` (one ~32-row catalog query)
 * and at once after a route miss; a changed map swaps in atomically, pools
 * of nodes that left are ended, and calls already routed by the old map
 * still commit once, on a node that forwards them. A worker that is down
 * fails only its own learners' calls (connection errors, UNAVAILABLE).
 *
 * Connections: at most `poolSizePerWorker` per node holding shards, plus the
 * coordinator's own pool.
 */
export class CitusRouter implements ConnectionSource {
  private map: WorkerMap | undefined;
  private readonly pools = new Map<string, Database>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<boolean> | undefined;
  private closed = false;
  readonly stats: RouterStats = { refreshes: 0, mapChanges: 0, refreshFailures: 0, routeMisses: 0 };
  readonly route: CitusRoute;

  private constructor(private readonly options: CitusRouterOptions) {
    this.route = options.route ?? "direct";
  }

  /**
   * Reads the map once and starts the refresh timer. Throws the database's
   * error when the catalog cannot be read at start (the caller decides
   * whether to fall back to the coordinator).
   */
  static async start(options: CitusRouterOptions): Promise<CitusRouter> {
    const router = new CitusRouter(options);
    await router.refresh();
    const interval = options.refreshIntervalMs ?? 1_000;
    if (interval > 0) {
      router.timer = setInterval(() => void router.refresh().catch(() => {}), interval);
      router.timer.unref();
    }
    return router;
  }

  /** The pool a coupled call for `userId` runs on (ConnectionSource). */
  poolFor(userId: number): pg.Pool {
    const decision = this.decide(userId);
    return decision.node === undefined ? this.options.coordinator : this.poolOf(decision.node);
  }

  /**
   * The learner's shard tables on the worker its calls go to, when they go
   * there directly and the map read them (ConnectionSource.shardTablesFor).
   */
  shardTablesFor(userId: number): ShardTables | undefined {
    if (this.decide(userId).route !== "direct") return undefined;
    return this.map?.locate(userId)?.shard.tables;
  }

  /** Where `userId`'s calls go now, and why. */
  decide(userId: number): RouteDecision {
    if (this.route === "coordinator") return coordinatorRoute(undefined, "setting");
    const located = this.map?.locate(userId);
    if (!this.map) return coordinatorRoute(undefined, "no map");
    if (!located) return coordinatorRoute(undefined, "no shard");
    const { shard, node } = located;
    if (!node) return coordinatorRoute(shard.shardId, "no active node");
    if (!node.synced) return coordinatorRoute(shard.shardId, "node not synced");
    return { route: "direct", shardId: shard.shardId, node: nodeKey(node) };
  }

  /** The current map (undefined before the first successful read). */
  get workerMap(): WorkerMap | undefined {
    return this.map;
  }

  /**
   * Re-reads the catalog now (concurrent calls share one read); true when
   * the map changed. Throws the database's error; the previous map stays.
   */
  refresh(): Promise<boolean> {
    this.refreshing ??= this.readMap().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /**
   * Told by the coupler that a call's lock statement ran in another backend
   * than the one it was sent on (ConnectionSource.routeMissed): the node
   * forwarded it, so it was not the learner's (a stale map). The call
   * committed once all the same. Counts the miss, tells the observer and
   * refreshes the map at once. Learners routed through the coordinator
   * (where every statement is forwarded) are not counted.
   */
  routeMissed(userId: number): void {
    if (this.decide(userId).route !== "direct") return;
    this.stats.routeMisses++;
    this.options.observer?.onRouteMiss?.({ userId, shardId: this.map?.locate(userId)?.shard.shardId });
    void this.refresh().catch(() => {});
  }

  /** Stops the timer and closes every worker pool (not the coordinator's). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  private async readMap(): Promise<boolean> {
    this.stats.refreshes++;
    let next: WorkerMap;
    try {
      next = await readWorkerMap(this.options.catalog ?? this.options.coordinator, this.options.table);
    } catch (error) {
      this.stats.refreshFailures++;
      this.options.logger?.warn(
        { error: describeDbError(error) },
        "could not read the Citus worker map; keeping the last one",
      );
      throw error;
    }
    if (this.closed || next.fingerprint === this.map?.fingerprint) return false;
    const first = this.map === undefined;
    this.map = next;
    if (!first) {
      this.stats.mapChanges++;
      this.options.observer?.onWorkerMapChange?.();
    }
    const live = new Set([...next.nodes.values()].map(nodeKey));
    for (const [key, pool] of this.pools)
      if (!live.has(key)) {
        this.pools.delete(key);
        // Calls holding one of its connections finish first (pool.end waits for them).
        void pool.close();
      }
    this.options.logger?.info(
      {
        shards: next.shards.length,
        nodes: [...live],
        allSynced: next.allSynced,
        route: this.route,
        // Without them (this session does not own the tables) a direct call names the distributed tables.
        shardTables: next.shards.every((s) => s.tables !== undefined),
      },
      first ? "Citus worker map read" : "Citus worker map changed",
    );
    return true;
  }

  private poolOf(key: string): pg.Pool {
    let database = this.pools.get(key);
    if (!database) {
      const url = this.urlOf(key);
      database = createDatabase({
        connectionString: url,
        max: this.options.poolSizePerWorker ?? 10,
        ...this.options.workerPool,
        applicationName: this.options.applicationName ?? "coupler",
        ...(this.options.logger ? { logger: this.options.logger.child({ worker: key }) } : {}),
      });
      // A connection to a worker claims learners' shards (ShardTables) with statements prepared once, on
      // connect, where the map names shard tables (the API's role owns the tables).
      database.pool.on("connect", (client) => {
        if (this.options.preparedStatements === false) return;
        if (this.map?.shards.some((shard) => shard.tables !== undefined)) prepareClaim(client);
      });
      this.pools.set(key, database);
      this.options.logger?.debug({ worker: key, url: redactUrl(url) }, "worker pool opened");
    }
    return database.pool;
  }

  /** The URL the API uses for node `key` (`nodename:nodeport`); see `nodeUrl`. */
  urlOf(key: string): string {
    return nodeUrl(this.options.connectionString, key, this.options.addresses);
  }
}

/**
 * The URL for Citus node `key` (`nodename:nodeport` as pg_dist_node names
 * it): its override when that is a `postgres://` URL, else `connectionString`
 * (user, password, database, parameters) with the host and port of the
 * override (`host:port`) or of `key`. Throws RangeError for an address that
 * is neither.
 */
export function nodeUrl(connectionString: string, key: string, addresses?: Readonly<Record<string, string>>): string {
  const override = addresses?.[key];
  if (override && /^postgres(ql)?:\/\//.test(override)) return override;
  const [host, port] = splitAddress(override ?? key);
  const url = new URL(connectionString);
  url.hostname = host;
  url.port = String(port);
  return url.toString();
}

function coordinatorRoute(shardId: string | undefined, reason: RouteDecision["reason"]): RouteDecision {
  return { route: "coordinator", shardId, node: undefined, reason };
}

function nodeKey(node: ShardNode): string {
  return `${node.host}:${node.port}`;
}

/** `host:port` (an IPv6 host in brackets) → [host, port]. Throws RangeError for anything else. */
export function splitAddress(address: string): [string, number] {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(address);
  const port = Number(match?.[2]);
  if (!match?.[1] || !(port > 0 && port < 65536))
    throw new RangeError(`"${address}" is not host:port or a postgres:// URL`);
  return [match[1], port];
}
