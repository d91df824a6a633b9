import { setTimeout as sleep } from "node:timers/promises";
import {
  ProgressLicenseCoupler,
  createLogger,
  sql,
  type CouplerOptions,
  type Database,
  type OperationEvent,
} from "@coupler/core";
import { userEmails, users } from "@coupler/core/schema";
import pg from "pg";

let seq = 0;

/** Inserts `count` users, with their `user_emails` rows as createUser writes them, and returns their ids. */
export async function createUsers(database: Database, count: number): Promise<number[]> {
  const rows = await database.db
    .insert(users)
    .values(
      Array.from({ length: count }, () => ({
        name: `Learner ${++seq}`,
        email: `learner-${process.pid}-${Date.now()}-${++seq}@example.test`,
      })),
    )
    .returning({ id: users.id, email: users.email });
  if (rows.length > 0) await database.db.insert(userEmails).values(rows.map((r) => ({ email: r.email, userId: r.id })));
  return rows.map((r) => r.id);
}

/**
 * Write combining for the couplers the tests create: on (core's default)
 * unless COUPLER_WRITE_COMBINING=off, so the whole suite runs under both
 * settings (`COUPLER_WRITE_COMBINING=off pnpm --filter @coupler/testing test`).
 */
const combining = { enabled: process.env.COUPLER_WRITE_COMBINING !== "off" };

/**
 * Both write-combining settings, for `describe.each` over the suites whose
 * subject is concurrency: with combining on, concurrent calls on a pair share
 * a transaction in memory; off, each call has its own and they meet at
 * PostgreSQL's row locks (the path Citus and several API processes take).
 */
export const COMBINING_MODES = [
  { mode: "on", combining: { enabled: true } },
  { mode: "off", combining: { enabled: false } },
] as const;

/** A coupler over `database` with quiet logs; options override the defaults. */
export function createCoupler(database: Database, options: Partial<CouplerOptions> = {}): ProgressLicenseCoupler {
  return new ProgressLicenseCoupler({
    pool: database.pool,
    db: database.db,
    logger: createLogger("test", "silent"),
    combining,
    ...options,
  });
}

/**
 * A coupler whose write transactions stop just before COMMIT, holding their
 * row locks and everything they wrote, until `release()`. `held` resolves
 * with the backend pid of the first transaction that got there.
 */
export function couplerHeldBeforeCommit(database: Database, options: Partial<CouplerOptions> = {}) {
  let hold = (_pid: number) => {};
  const held = new Promise<number>((resolve) => (hold = resolve));
  let release = () => {};
  const mayCommit = new Promise<void>((resolve) => (release = resolve));
  const coupler = createCoupler(database, {
    ...options,
    faults: {
      beforeCommit: async (client) => {
        hold(backendPid(client));
        await mayCommit;
      },
    },
  });
  return { coupler, held, release };
}

/** Users enrolled in `specialization`, ready for level-ups. */
export async function enrolledUsers(
  database: Database,
  coupler: ProgressLicenseCoupler,
  count: number,
  specialization = "PLAYER",
) {
  const ids = await createUsers(database, count);
  for (const id of ids) await coupler.enroll({ userId: id, specialization: specialization });
  return ids;
}

/** One enrolled learner's id. */
export async function enrolledUser(
  database: Database,
  coupler: ProgressLicenseCoupler,
  specialization = "PLAYER",
): Promise<number> {
  const [id] = await enrolledUsers(database, coupler, 1, specialization);
  if (id === undefined) throw new Error("no user was created");
  return id;
}

/**
 * Row counts and a checksum of every row of the coupled tables, to assert that
 * a failed call wrote nothing (not even a timestamp).
 */
export async function snapshotTables(database: Database) {
  const { rows } = await database.db.execute<Record<string, string>>(sql`
    select (select count(*) from specialization_progress) as progress,
           (select count(*) from user_licenses) as licenses,
           (select count(*) from license_progressions) as history,
           (select count(*) from coupler_audit_log) as audit,
           (select count(*) from idempotency_keys) as keys,
           (select coalesce(sum(total_xp), 0) from specialization_progress) as xp,
           (select coalesce(sum(current_level), 0) from user_licenses) as license_levels,
           (select coalesce(sum(current_level), 0) from specialization_progress) as progress_levels,
           (select md5(coalesce(string_agg(t::text, '|' order by t.id), '')) from specialization_progress t) as progress_rows,
           (select md5(coalesce(string_agg(t::text, '|' order by t.id), '')) from user_licenses t) as license_rows`);
  return rows[0];
}

/** Both rows of a pair as stored, read outside the coupler; a missing half is undefined. */
export async function pairRows(database: Database, userId: number, specialization = "PLAYER") {
  const { rows } = await database.pool.query<{
    progress_level: number | null;
    total_xp: string | null;
    completed_sessions: number | null;
    license_id: number | null;
    license_level: number | null;
    max_achieved_level: number | null;
  }>(
    `select p.current_level as progress_level, p.total_xp, p.completed_sessions,
            l.id as license_id, l.current_level as license_level, l.max_achieved_level
     from (select $1::int as uid, $2::text as spec) k
     left join specialization_progress p on p.student_id = k.uid and p.specialization_id = k.spec
     left join user_licenses l on l.user_id = k.uid and l.specialization_type = k.spec`,
    [userId, specialization],
  );
  const row = rows[0];
  return {
    progressLevel: row?.progress_level ?? undefined,
    totalXp: row?.total_xp == null ? undefined : Number(row.total_xp),
    completedSessions: row?.completed_sessions ?? undefined,
    licenseId: row?.license_id ?? undefined,
    licenseLevel: row?.license_level ?? undefined,
    maxAchievedLevel: row?.max_achieved_level ?? undefined,
  };
}

/** A license's history as [from, to] steps, oldest first. */
export async function historySteps(
  database: Database,
  userId: number,
  specialization = "PLAYER",
): Promise<[number, number][]> {
  const { rows } = await database.pool.query<{ from_level: number; to_level: number }>(
    `select h.from_level, h.to_level from license_progressions h
     join user_licenses l on l.user_id = h.user_id and l.id = h.user_license_id
     where l.user_id = $1 and l.specialization_type = $2 order by h.id`,
    [userId, specialization],
  );
  return rows.map((r) => [r.from_level, r.to_level]);
}

/** A pair's audit rows, oldest first. */
export async function auditRows(database: Database, userId: number, specialization = "PLAYER") {
  const { rows } = await database.pool.query<{
    operation: string;
    outcome: string;
    xp_delta: string;
    from_level: number | null;
    to_level: number | null;
    idempotency_key: string | null;
  }>(
    `select operation, outcome, xp_delta, from_level, to_level, idempotency_key from coupler_audit_log
     where user_id = $1 and specialization_id = $2 order by id`,
    [userId, specialization],
  );
  return rows.map((r) => ({ ...r, xp_delta: Number(r.xp_delta) }));
}

/** An observer that keeps every event, for assertions. */
export function recordingObserver() {
  const events: OperationEvent[] = [];
  return { events, onOperation: (event: OperationEvent) => void events.push(event) };
}

/**
 * A plain pg connection to a test database, outside the coupler and its pool:
 * "another session" in isolation tests, a legacy writer, or an operator's psql.
 */
export class Session {
  readonly client: pg.Client;
  #pid = 0;

  private constructor(url: string) {
    this.client = new pg.Client({ connectionString: url, application_name: "coupler-test-session" });
    // A backend terminated by a test must not crash the run.
    this.client.on("error", () => {});
  }

  static async open(database: { url: string }): Promise<Session> {
    const session = new Session(database.url);
    await session.client.connect();
    const { rows } = await session.client.query<{ pid: number }>("select pg_backend_pid() as pid");
    session.#pid = rows[0]?.pid ?? 0;
    return session;
  }

  /** The backend process id of this session. */
  get pid(): number {
    return this.#pid;
  }

  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    params: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    return this.client.query<R>(text, params);
  }

  /** BEGIN, then take the pair's row locks the way the coupler does (progress, then license). */
  async lockPair(userId: number, specialization = "PLAYER"): Promise<void> {
    await this.query("begin");
    await this.query(
      "select 1 from specialization_progress where student_id = $1 and specialization_id = $2 for update",
      [userId, specialization],
    );
    await this.query("select 1 from user_licenses where user_id = $1 and specialization_type = $2 for update", [
      userId,
      specialization,
    ]);
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

/** Runs `fn` on a fresh session and closes it afterwards. */
export async function withSession<T>(database: { url: string }, fn: (session: Session) => Promise<T>): Promise<T> {
  const session = await Session.open(database);
  try {
    return await fn(session);
  } finally {
    await session.close();
  }
}

/** Runs `fn` while another session holds the pair's row locks, then rolls that session back. */
export async function whilePairLocked<T>(
  database: { url: string },
  userId: number,
  fn: (holder: Session) => Promise<T>,
  specialization = "PLAYER",
): Promise<T> {
  return withSession(database, async (holder) => {
    await holder.lockPair(userId, specialization);
    try {
      return await fn(holder);
    } finally {
      await holder.query("rollback").catch(() => {});
    }
  });
}

/**
 * Runs raw statements in one transaction of its own session, as a writer that
 * bypasses the coupler would. With `replica`, session_replication_role =
 * replica disables the foreign-key triggers, so tests can plant states the
 * constraints otherwise forbid (only the ENABLE ALWAYS triggers still fire).
 */
export async function rawTransaction(
  database: { url: string },
  statements: (string | [string, unknown[]])[],
  options: { replica?: boolean } = {},
): Promise<void> {
  await withSession(database, async (session) => {
    await session.query("begin");
    try {
      if (options.replica) await session.query("set local session_replication_role = replica");
      for (const statement of statements) {
        const [text, params] = typeof statement === "string" ? [statement, []] : statement;
        await session.query(text, params);
      }
      await session.query("commit");
    } catch (error) {
      await session.query("rollback").catch(() => {});
      throw error;
    }
  });
}

/** Terminates a backend from another session and waits until it has exited. */
export async function terminateBackend(database: { url: string }, pid: number): Promise<void> {
  await withSession(database, (session) => session.query("select pg_terminate_backend($1, 10000)", [pid]));
}

/** The backend pid of a pool client (known once it is connected). */
export function backendPid(client: pg.ClientBase): number {
  const pid = (client as { processID?: unknown }).processID;
  if (typeof pid !== "number") throw new Error("client is not connected");
  return pid;
}

/**
 * Polls pg_stat_activity until backends of this database wait on a
 * heavyweight lock (wait_event_type = 'Lock'), in the manner of PostgreSQL's
 * isolation tester, which steps on only once a session is observed blocked.
 * With `blockedBy`, only waiters that pg_blocking_pids says that backend
 * blocks count. Returns the waiters' pids. On Citus, Citus's own account
 * of lock waits across the nodes (citus_lock_waits) instead.
 */
export async function waitForLockWaiters(
  database: { url: string; name: string },
  options: { blockedBy?: number; count?: number; timeoutMs?: number } = {},
): Promise<number[]> {
  const count = options.count ?? 1;
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  return withSession(database, async (session) => {
    // On Citus the row locks are taken on a worker: the coordinator's citus_lock_waits names waiter and
    // blocker by global pid (node id × 10^10 + pid), the coordinator's backends with their own pids.
    const { rows: citus } = await session.query<{ on: boolean }>(
      "select to_regclass('pg_catalog.citus_lock_waits') is not null as on",
    );
    const query = citus[0]?.on
      ? `select distinct (waiting_gpid % 10000000000)::int as pid from citus_lock_waits
         where $1::text is not null and ($2::int is null or blocking_gpid % 10000000000 = $2::int) order by 1`
      : `select pid from pg_stat_activity
         where datname = $1 and wait_event_type = 'Lock'
           and ($2::int is null or $2::int = any(pg_blocking_pids(pid)))
         order by pid`;
    for (;;) {
      const { rows } = await session.query<{ pid: number }>(query, [database.name, options.blockedBy ?? null]);
      if (rows.length >= count) return rows.map((r) => r.pid);
      if (Date.now() > deadline) throw new Error(`fewer than ${count} backend(s) were observed waiting on a lock`);
      await sleep(5);
    }
  });
}
