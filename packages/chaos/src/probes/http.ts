import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** A request as the probes describe it; `input` of a GET goes into `?input=`, of a POST into the body. */
export interface HttpRequest {
  method?: string;
  /** Path and query, e.g. "/trpc/progression.get". */
  path: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  headers?: Record<string, string>;
  /** JSON-encoded into the body (POST) or the `input` query parameter (GET). */
  input?: unknown;
  /** The exact body text, instead of `input`. */
  body?: string;
  /** Sent with chunked transfer encoding (no Content-Length), in this many chunks. */
  chunks?: number;
}

export interface HttpResponse {
  request: HttpRequest;
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** Sends one request to 127.0.0.1:`port` on a connection of its own (no keep-alive: nothing lingers against the connection cap). */
export function sendRequest(port: number, spec: HttpRequest, timeoutMs = 10_000): Promise<HttpResponse> {
  const method = spec.method ?? (spec.input !== undefined || spec.body !== undefined ? "POST" : "GET");
  const query =
    method === "GET" && spec.input !== undefined
      ? `${spec.path.includes("?") ? "&" : "?"}input=${encodeURIComponent(JSON.stringify(spec.input))}`
      : "";
  const body = spec.body ?? (method !== "GET" && spec.input !== undefined ? JSON.stringify(spec.input) : undefined);
  const headers: Record<string, string> = {
    connection: "close",
    ...(body !== undefined ? { "content-type": "application/json" } : {}),
  };
  if (spec.token !== undefined) headers.authorization = `Bearer ${spec.token}`;
  Object.assign(headers, spec.headers);
  if (body !== undefined && !spec.chunks) headers["content-length"] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, method, path: spec.path + query, headers, agent: false, timeout: timeoutMs },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (chunk: Buffer) => parts.push(chunk));
        res.on("end", () => {
          const text = Buffer.concat(parts).toString("utf8");
          resolve({
            request: spec,
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            json: parseJson(text),
          });
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    if (body !== undefined && spec.chunks) {
      const size = Math.ceil(body.length / spec.chunks);
      for (let i = 0; i < body.length; i += size) req.write(body.slice(i, i + size));
    } else if (body !== undefined) req.write(body);
    req.end();
  });
}

/** "401 UNAUTHORIZED", "400 BAD_REQUEST (VALIDATION)", "200": the status and the tRPC error code, if any. */
export function describeResponse(res: HttpResponse): string {
  const error = (res.json as { error?: { data?: { code?: string; couplerCode?: string } } } | undefined)?.error;
  const code = error?.data?.code;
  const couplerCode = error?.data?.couplerCode;
  return [String(res.status), code, couplerCode ? `(${couplerCode})` : undefined].filter(Boolean).join(" ");
}

/** The `result.data` of a successful single tRPC call. */
export function resultData<T>(res: HttpResponse): T | undefined {
  return (res.json as { result?: { data?: T } } | undefined)?.result?.data;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A raw TCP client: what it received, and when the server closed it (ms after connecting). */
export interface RawClient {
  socket: Socket;
  received(): string;
  isClosed(): boolean;
  closed: Promise<number>;
}

export async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  let closed = false;
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  socket.on("error", () => {}); // a reset is one way of being cut off
  await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
  const connectedAt = performance.now();
  const closedAt = new Promise<number>((resolve) =>
    socket.once("close", () => {
      closed = true;
      resolve(performance.now() - connectedAt);
    }),
  );
  return { socket, received: () => Buffer.concat(chunks).toString("latin1"), isClosed: () => closed, closed: closedAt };
}

/** Writes `text` one byte every `everyMs` until it is all sent or the socket is gone. */
export async function trickle(client: RawClient, text: string, everyMs: number): Promise<void> {
  for (const byte of text) {
    if (client.socket.destroyed || !client.socket.writable) return;
    client.socket.write(byte);
    await sleep(everyMs);
  }
}

/** Resolves with the close time, or undefined if the socket is still open after `ms`. */
export async function closedWithin(client: RawClient, ms: number): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)));
  const result = await Promise.race([client.closed, timeout]);
  clearTimeout(timer);
  return result;
}

/** The status line of what a raw client received, or "nothing". */
export function statusLine(client: RawClient): string {
  const text = client.received();
  return text === "" ? "nothing" : (text.split("\r\n", 1)[0] ?? "");
}

/** The request line and headers of an instructor's level-up announcing a body of `contentLength` bytes, for raw clients. */
export function levelUpHead(token: string, contentLength: number): string {
  return `POST /trpc/progression.levelUp HTTP/1.1\r\nHost: probes\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n`;
}
