import { connect, createServer, type Server, type Socket } from "node:net";

export interface CommitDropProxy {
  /** Connection string through the proxy (same credentials and database). */
  url: string;
  /**
   * Drops the next connection that sends COMMIT right after the server
   * answers it: the transaction is committed, the client only sees its
   * connection die. Resolves when that happened.
   */
  dropNextCommitReply(): Promise<void>;
  /**
   * The next connection gets a FATAL 57P01 (as at a server shutdown) in the
   * same packet as the ReadyForQuery that completes its startup, so the error
   * reaches the client before whoever asked for the connection can attach a
   * listener. Resolves when that happened.
   */
  failNextConnectOnReady(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of PostgreSQL that can lose the reply to
 * a COMMIT: the one failure where the client cannot tell whether its write
 * happened. Only an idempotency key can resolve it.
 */
export async function startCommitDropProxy(targetUrl: string): Promise<CommitDropProxy> {
  const target = new URL(targetUrl);
  const sockets = new Set<Socket>();
  let armed: (() => void) | undefined;
  let failOnReady: (() => void) | undefined;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    sockets.add(client).add(upstream);
    let commitSent: (() => void) | undefined;
    let startupFailure = failOnReady;
    failOnReady = undefined;
    client.on("data", (chunk) => {
      if (armed && isCommitQuery(chunk)) {
        commitSent = armed;
        armed = undefined;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (startupFailure && chunk.includes(READY_FOR_QUERY)) {
        client.end(Buffer.concat([chunk, FATAL_SHUTDOWN]));
        upstream.destroy();
        startupFailure();
        startupFailure = undefined;
        return;
      }
      if (commitSent) {
        client.destroy();
        upstream.destroy();
        commitSent();
        return;
      }
      client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const url = new URL(targetUrl);
  url.port = String(port);
  return {
    url: url.toString(),
    dropNextCommitReply: () => new Promise<void>((resolve) => (armed = resolve)),
    failNextConnectOnReady: () => new Promise<void>((resolve) => (failOnReady = resolve)),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A simple-protocol Query message whose whole text is COMMIT: 'Q', int32 length, "COMMIT\0". */
function isCommitQuery(chunk: Buffer): boolean {
  return chunk[0] === 0x51 && chunk.subarray(5, 12).toString("latin1").toUpperCase() === "COMMIT\0";
}

/** ReadyForQuery: 'Z', int32 length 5 (the status byte follows). */
const READY_FOR_QUERY = Buffer.from([0x5a, 0, 0, 0, 5]);

/** ErrorResponse FATAL 57P01, what every backend sends when the server shuts down. */
const FATAL_SHUTDOWN = errorResponse({
  S: "FATAL",
  V: "FATAL",
  C: "57P01",
  M: "terminating connection due to administrator command",
});

function errorResponse(fields: Record<string, string>): Buffer {
  const body = Buffer.concat([
    ...Object.entries(fields).map(([k, v]) => Buffer.from(`${k}${v}\0`, "utf8")),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write("E", 0, "latin1");
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}
