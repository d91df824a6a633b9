import pg from "pg";

/**
 * A pool whose clients write down every query's text as sent (the real
 * driver underneath), for tests that count or compare a call's round trips.
 * `sent` is shared by the pool's clients; clear it between calls.
 */
export function recordingPool(url: string, max = 1): { pool: pg.Pool; sent: string[] } {
  const sent: string[] = [];
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on("connect", (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const [first] = args;
      sent.push(typeof first === "string" ? first : String((first as { text?: unknown }).text));
      return query(...args);
    };
  });
  return { pool, sent };
}
