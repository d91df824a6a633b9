import type pg from "pg";

/** What Citus said it did for the sessions of one pool (see `logCitusCommands`). */
export interface CitusCommandLog {
  /** `issuing …`: commands Citus sent to another node over a remote connection. */
  remote: string[];
  /** `executing the command locally: …`: tasks Citus ran on this node without a connection. */
  local: string[];
  /** Forgets what was logged so far. */
  clear(): void;
}

/**
 * Turns on Citus's own account of its commands (`citus.log_remote_commands`,
 * `citus.log_local_commands`) for every connection `pool` opens from now on,
 * and collects the NOTICEs they send to the client. Attach it before the pool
 * opens its first connection (connections opened earlier are not logged).
 */
export function logCitusCommands(pool: pg.Pool): CitusCommandLog {
  const log: CitusCommandLog = {
    remote: [],
    local: [],
    clear: () => {
      log.remote.length = 0;
      log.local.length = 0;
    },
  };
  pool.on("connect", (client) => {
    client.on("notice", (notice) => {
      const message = notice.message ?? "";
      if (message.startsWith("issuing ")) log.remote.push(message);
      else if (message.startsWith("executing the command locally")) log.local.push(message);
    });
    // Queued before any query of the borrower: the session logs from its first statement on.
    client
      .query("set citus.log_remote_commands = on; set citus.log_local_commands = on; set client_min_messages = notice")
      .catch(() => {});
  });
  return log;
}
