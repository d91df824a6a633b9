import type { Socket } from "node:net";
import { serverError, type CouplerErrorShape } from "../trpc.ts";

/**
 * The 'clientError' listener of the API's HTTP server: what node:http answers
 * by itself when a request cannot even be parsed, answered in the API's JSON
 * error envelope (`{ error: { message, data: { couplerCode, … } } }`) instead
 * of node's bare status line, so a client learns the same `couplerCode` from
 * every refusal. Node writes nothing once a listener exists, so this mirrors
 * its defaults: HPE_HEADER_OVERFLOW (a request line or headers over
 * `--max-http-header-size`, 16 KiB: a 100 KB URL, a 20 KB header) → 431
 * HEADERS_TOO_LARGE; ERR_HTTP_REQUEST_TIMEOUT (HTTP_REQUEST_TIMEOUT_MS or
 * HTTP_HEADERS_TIMEOUT_MS ran out) → 408 TIMEOUT; any other parse error →
 * 400 VALIDATION. Then the socket is closed, as node does (what follows
 * cannot be parsed). A socket already written to, or gone (ECONNRESET), is
 * only destroyed.
 */
export function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (socket.writable && socket.bytesWritten === 0) {
    const [status, reason, shape] = clientErrorAnswer(error.code);
    const body = JSON.stringify({ error: shape });
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-content-type-options: nosniff\r\ncache-control: no-store\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

function clientErrorAnswer(code: string | undefined): [number, string, CouplerErrorShape] {
  if (code === "HPE_HEADER_OVERFLOW") {
    const shape = serverError(
      "BAD_REQUEST",
      "the request line and headers exceed the server's 16 KiB limit; send long inputs in a POST body",
    );
    shape.data = { ...shape.data, httpStatus: 431, couplerCode: "HEADERS_TOO_LARGE", retryable: false };
    return [431, "Request Header Fields Too Large", shape];
  }
  if (code === "ERR_HTTP_REQUEST_TIMEOUT")
    return [
      408,
      "Request Timeout",
      serverError("TIMEOUT", "the request did not arrive in time (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS)"),
    ];
  return [400, "Bad Request", serverError("BAD_REQUEST", "the request is not valid HTTP/1.1")];
}
