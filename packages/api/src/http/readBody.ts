import type { IncomingMessage } from "node:http";

/**
 * Reads a request body up to `limit` bytes, whether or not it announced a
 * content-length, as UTF-8 without a leading byte order mark (as
 * `Request.text()` decodes). Over the limit, `onTooLarge` runs instead and the
 * rest is not read. A client that goes away mid-body gets no answer.
 */
export function readBody(req: IncomingMessage, limit: number, onText: (text: string) => void, onTooLarge: () => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) {
      chunks.push(chunk);
      return;
    }
    req.off("data", onData);
    req.off("end", onEnd);
    onTooLarge();
  };
  const onEnd = () => {
    const first = chunks[0];
    const text = first === undefined ? "" : chunks.length === 1 ? first.toString("utf8") : Buffer.concat(chunks, size).toString("utf8");
    onText(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  };
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", () => {});
}
