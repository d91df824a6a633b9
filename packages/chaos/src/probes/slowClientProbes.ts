import { setTimeout as sleep } from "node:timers/promises";
import { closedWithin, levelUpHead, rawClient, sendRequest, statusLine, trickle, type RawClient } from "./http.ts";
import type { Probe, ProbeTarget } from "./types.ts";

const BYTE_EVERY_MS = 200;
/** Node sweeps for expired requests every second here; on top of that, a loaded machine's scheduling. */
const MARGIN_MS = 2500;

/**
 * A client that `start`s sending and never finishes in time: it must be cut
 * (408 or nothing) within `bound` plus the margin.
 */
function slowProbe(
  id: string,
  sends: string,
  boundName: string,
  bound: (t: ProbeTarget) => number,
  start: (client: RawClient, t: ProbeTarget) => void,
): Probe {
  return {
    id,
    category: "slow clients",
    sends,
    expected: `closed (408 or nothing) within ${boundName} + ${MARGIN_MS / 1000} s`,
    async run(t) {
      const client = await rawClient(t.port);
      start(client, t);
      const waitMs = bound(t) + MARGIN_MS;
      const closedAfterMs = await closedWithin(client, waitMs);
      client.socket.destroy();
      const status = statusLine(client);
      if (closedAfterMs === undefined)
        return { actual: `still open after ${(waitMs / 1000).toFixed(1)} s`, pass: false };
      return {
        actual: `closed after ${(closedAfterMs / 1000).toFixed(1)} s, received: ${status}`,
        pass: status === "nothing" || status.startsWith("HTTP/1.1 408"),
      };
    },
  };
}

export const slowClientProbes: Probe[] = [
  slowProbe(
    "slow-headers",
    "request headers at one byte per 200 ms, never finished",
    "HTTP_HEADERS_TIMEOUT_MS 2 s",
    (t) => t.limits.headersTimeoutMs,
    (client) => {
      void trickle(client, `GET /healthz HTTP/1.1\r\nHost: probes\r\nX-Slow: ${"a".repeat(1000)}`, BYTE_EVERY_MS);
    },
  ),
  slowProbe(
    "slow-body",
    "a levelUp with valid headers, then its 500-byte body at one byte per 200 ms",
    "HTTP_REQUEST_TIMEOUT_MS 4 s",
    (t) => t.limits.requestTimeoutMs,
    (client, t) => {
      // A valid token, so the procedure has to wait for the whole body before it can answer.
      const body = JSON.stringify({
        userId: t.users.student,
        specialization: "PLAYER",
        xpGained: 1,
        sessionsCompleted: 0,
      }).padEnd(500);
      client.socket.write(levelUpHead(t.token("instructor", t.users.instructor), body.length));
      void trickle(client, body, BYTE_EVERY_MS);
    },
  ),
  {
    id: "slow-idle-sockets-over-cap",
    category: "slow clients",
    sends: "60 idle TCP connections at once (HTTP_MAX_CONNECTIONS 50), then one request after closing them",
    expected: "≥ 10 closed unanswered, 45–50 held; served again after",
    async run(t) {
      const clients: RawClient[] = [];
      // The sockets of earlier probes count until the server has seen them close; the
      // keep-alive connection of startApiProcess's readiness check stays open, hence ≥ 10.
      await sleep(500);
      try {
        for (let i = 0; i < 60; i++) clients.push(await rawClient(t.port));
        await sleep(500);
        const closed = clients.filter((c) => c.isClosed());
        const answered = closed.filter((c) => c.received() !== "").length;
        for (const c of clients) c.socket.destroy();
        await Promise.all(clients.map((c) => c.closed));
        const after = await servedAgain(t.port);
        const actual = `${closed.length} closed (${answered} answered), ${clients.length - closed.length} held; ${after}`;
        return {
          actual,
          pass:
            closed.length >= 10 &&
            clients.length - closed.length >= 45 &&
            answered === 0 &&
            after === "served again after",
        };
      } finally {
        for (const c of clients) c.socket.destroy();
      }
    },
  },
];

/** The server learns of closed sockets asynchronously: retries /healthz for up to 2 s. */
async function servedAgain(port: number): Promise<string> {
  for (let i = 0; i < 20; i++) {
    const status = await sendRequest(port, { path: "/healthz" }, 1000).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return "served again after";
    await sleep(100);
  }
  return "not served again within 2 s";
}
