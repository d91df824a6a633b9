import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCoupler, enrolledUser } from "@coupler/testing";
import { INSTRUCTOR_ID, startTestApi, type TestApi } from "./harness.ts";

// Short bounds so the test takes seconds; the margins are generous on purpose:
// these tests show that a slow client is cut, not how precisely.
const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
const MARGIN_MS = 4000;
const BYTE_EVERY_MS = 200;

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });
});
afterAll(() => api.close());

/** A raw TCP client: what it received, and when the server closed it (ms after connecting). */
interface RawClient {
  socket: Socket;
  received(): string;
  closed: Promise<number>;
}

async function rawClient(url: string): Promise<RawClient> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => {}); // a reset is one way of being cut off
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const connectedAt = performance.now();
  const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(performance.now() - connectedAt)));
  return { socket, received: () => Buffer.concat(chunks).toString("latin1"), closed };
}

/** Writes `text` one byte every BYTE_EVERY_MS until it is all sent or the socket is gone. */
async function trickle(client: RawClient, text: string): Promise<void> {
  for (const byte of text) {
    if (client.socket.destroyed || !client.socket.writable) return;
    client.socket.write(byte);
    await sleep(BYTE_EVERY_MS);
  }
}

/** Level-ups from a well-behaved client, one after another, until `stop` settles; returns how many succeeded. */
async function levelUpsUntil(stop: Promise<unknown>): Promise<number> {
  const learner = await enrolledUser(api.database, createCoupler(api.database));
  const instructor = await api.client("instructor");
  let done = false;
  void stop.finally(() => (done = true));
  let succeeded = 0;
  while (!done) {
    await instructor.progression.levelUp.mutate({
      userId: learner,
      specialization: "PLAYER",
      xpGained: 1,
      sessionsCompleted: 1,
    });
    succeeded++;
  }
  return succeeded;
}

describe("slow clients", () => {
  it("closes a connection whose headers arrive one byte at a time within the header bound, while other clients' level-ups succeed", async () => {
    const slow = await rawClient(api.url);
    // Never finishes the headers: a header line far longer than the bound allows at this pace.
    void trickle(slow, `GET /healthz HTTP/1.1\r\nHost: coupler\r\nX-Slow: ${"a".repeat(1000)}`);
    const [closedAfterMs, levelUps] = await Promise.all([slow.closed, levelUpsUntil(slow.closed)]);
    expect(closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + MARGIN_MS);
    expect(slow.received()).toMatch(/^(HTTP\/1\.1 408|$)/);
    expect(levelUps).toBeGreaterThan(0);
  });

  it("closes a connection whose body arrives one byte at a time within the request bound, while other clients' level-ups succeed", async () => {
    // A valid token, so the procedure has to wait for the whole body before it can answer.
    const token = await api.token("instructor", INSTRUCTOR_ID);
    const slow = await rawClient(api.url);
    const body = JSON.stringify({ userId: 1, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 1 }).padEnd(500);
    slow.socket.write(
      `POST /trpc/progression.levelUp HTTP/1.1\r\nHost: coupler\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    void trickle(slow, body);
    const [closedAfterMs, levelUps] = await Promise.all([slow.closed, levelUpsUntil(slow.closed)]);
    expect(closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + MARGIN_MS);
    expect(slow.received()).toMatch(/^(HTTP\/1\.1 408|$)/);
    expect(levelUps).toBeGreaterThan(0);
  });
});

describe("the connection cap", () => {
  /** Sends a keep-alive GET /healthz and resolves with the status line, or undefined if the connection closes first. */
  async function healthz(client: RawClient): Promise<string | undefined> {
    client.socket.write("GET /healthz HTTP/1.1\r\nHost: coupler\r\n\r\n");
    for (let i = 0; i < 200; i++) {
      const text = client.received();
      if (text.includes("\r\n\r\n")) return text.split("\r\n", 1)[0];
      if (client.socket.destroyed) return undefined;
      await sleep(10);
    }
    return undefined;
  }

  it("ends connections beyond HTTP_MAX_CONNECTIONS while the cap is reached, and serves again once one closes", async () => {
    await using capped = await startTestApi({ database: api.database, maxConnections: 2 });
    const first = await rawClient(capped.url);
    const second = await rawClient(capped.url);
    expect(await healthz(first)).toBe("HTTP/1.1 200 OK");
    expect(await healthz(second)).toBe("HTTP/1.1 200 OK");

    const refused = await rawClient(capped.url);
    expect(await healthz(refused)).toBeUndefined();
    await refused.closed;
    expect(refused.received()).toBe("");

    first.socket.destroy();
    await first.closed;
    // The server learns of the close asynchronously; a new client gets in once it has.
    let status: string | undefined;
    for (let i = 0; i < 50 && status === undefined; i++) {
      const next = await rawClient(capped.url);
      status = await healthz(next);
      next.socket.destroy();
      if (status === undefined) await sleep(20);
    }
    expect(status).toBe("HTTP/1.1 200 OK");
    second.socket.destroy();
  });
});
