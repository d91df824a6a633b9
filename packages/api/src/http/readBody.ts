import type { IncomingMessage } from "node:http";

/**
 * Reads a request body up to `limit` bytes, as UTF-8 without a leading byte
 * order mark (as `Request.text()` decodes). The one check of the limit for
 * the requests it reads: a content-length over it is refused before any of
 * the body is read, and a body without one is counted as it arrives. Over the
 * limit, `onTooLarge` runs instead and the rest is not read. A client that
 * goes away mid-body gets no answer.
 */
export function readBody(
  req: IncomingMessage,
  limit: number,
  onText: (text: string) => void,
  onTooLarge: () => void,
): void {
  if (Number(req.headers["content-length"] ?? 0) > limit) return onTooLarge();
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
    const text =
      first === undefined
        ? ""
        : chunks.length === 1
          ? first.toString("utf8")
          : Buffer.concat(chunks, size).toString("utf8");
    onText(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  };
  req.on("data", onData);
  req.on("end", onEnd);
  req.on("error", () => {});
}
