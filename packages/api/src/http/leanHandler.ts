import type { IncomingMessage, ServerResponse } from "node:http";
import type { AnyTRPCProcedure, AnyTRPCRouter, TRPCError, inferRouterContext } from "@trpc/server";
import { getHTTPStatusCode } from "@trpc/server/http";
import {
  TRPCError as TRPCErrorClass,
  getErrorShape,
  getTRPCErrorFromUnknown,
  isAsyncIterable,
  isObject,
  isPromise,
  transformTRPCResponse,
  type ProcedureType,
  type TRPCResponse,
} from "@trpc/server/unstable-core-do-not-import";
import { readBody } from "./readBody.ts";

const BASE = "/trpc/";

export interface LeanErrorHandlerOptions<TContext> {
  error: TRPCError;
  path: string | undefined;
  input: unknown;
  ctx: TContext | undefined;
  type: ProcedureType | "unknown";
  req: IncomingMessage;
}

export interface LeanHandlerOptions<TRouter extends AnyTRPCRouter> {
  router: TRouter;
  /** Bodies above this many bytes are refused with `tooLarge`, whether or not they announced a content-length. */
  maxBodySize: number;
  createContext: (opts: { req: IncomingMessage; res: ServerResponse }) => Promise<inferRouterContext<TRouter>>;
  /** Called for every failed call, with what the standalone adapter passes to its own `onError`. */
  onError?: (opts: LeanErrorHandlerOptions<inferRouterContext<TRouter>>) => void;
  /** Answers a body over the limit (the caller's 413 envelope; it must close the connection). */
  tooLarge: (res: ServerResponse) => void;
}

/**
 * Takes a request for the lean path and answers it, or returns false having
 * touched nothing, so the caller hands it to tRPC's own adapter.
 */
export type LeanHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/**
 * Serves single (unbatched) queries and mutations without building a Fetch
 * `Request` and `Response` per call, which costs tRPC's node adapters about
 * half a millisecond of CPU on Node 20. The procedure is still called through
 * tRPC (its middlewares, input parsers and error formatter), and the response
 * is what `resolveResponse` builds for a single call: the same body, status,
 * `content-type` and `vary` headers, and the same `onError` calls.
 *
 * Only the plainest requests qualify, decided from method, URL and headers
 * before any of the body is read: POST with an `application/json` body to a
 * mutation and no query string, or GET to a query with at most `?input=`; a
 * known procedure path spelled exactly; no `trpc-accept` or jsonl `accept`.
 * Batches, unknown paths, method or type mismatches, other content types,
 * streaming and anything unusual go to the official adapter, which answers
 * them (errors included) as it always did.
 *
 * Differences: the response carries a `content-length` instead of chunked
 * encoding, and a body over the limit without a content-length gets the
 * server's 413 envelope rather than tRPC's PAYLOAD_TOO_LARGE error.
 */
export function createLeanHandler<TRouter extends AnyTRPCRouter>(opts: LeanHandlerOptions<TRouter>): LeanHandler {
  type Ctx = inferRouterContext<TRouter>;
  const { router, maxBodySize, createContext, onError, tooLarge } = opts;
  const config = router._def._config;
  const procedures = new Map<string, AnyTRPCProcedure>(Object.entries(router._def.procedures as Record<string, AnyTRPCProcedure>));
  const hosts = new HostCheck();

  /** Runs the call the way resolveResponse's single-call branch does, and writes the answer. */
  async function respond(req: IncomingMessage, res: ServerResponse, path: string, proc: AnyTRPCProcedure, raw: string | undefined) {
    const type = proc._def.type as ProcedureType;
    let ctx: Ctx | undefined;
    let error: TRPCError | undefined;
    let data: unknown;
    // tRPC reads the input lazily (after the middlewares before `.input()`), and keeps a failed parse's error.
    let parsed: { input: unknown } | undefined;
    let parseError: TRPCError | undefined;
    const getRawInput = async () => {
      if (parsed) return parsed.input;
      if (parseError) throw parseError;
      try {
        const value = raw ? (JSON.parse(raw) as unknown) : undefined;
        parsed = { input: value === undefined ? undefined : config.transformer.input.deserialize(value) };
        return parsed.input;
      } catch (cause) {
        parseError =
          cause instanceof TRPCErrorClass
            ? cause
            : new TRPCErrorClass({ code: "BAD_REQUEST", message: cause instanceof Error ? cause.message : "Invalid input", cause });
        throw parseError;
      }
    };
    try {
      ctx = await createContext({ req, res });
      data = await proc({ path, getRawInput, ctx, type, signal: undefined, batchIndex: 0 });
    } catch (cause) {
      error = getTRPCErrorFromUnknown(cause);
      onError?.({ error, path, input: parsed?.input, ctx, type, req });
    }
    let body: string;
    let status: number;
    try {
      if (!error && isDataStream(data)) {
        throw new TRPCErrorClass({ code: "UNSUPPORTED_MEDIA_TYPE", message: "Cannot use stream-like response in non-streaming request - use httpBatchStreamLink" });
      }
      const response: TRPCResponse = error
        ? { error: getErrorShape({ config, ctx, error, input: parsed?.input, path, type }) }
        : { result: { data } };
      status = getHTTPStatusCode([response], error ? [error] : []);
      body = JSON.stringify(transformTRPCResponse(config, response));
    } catch (cause) {
      // resolveResponse's outer catch: no path or input in the report or the shape.
      const outer = getTRPCErrorFromUnknown(cause);
      onError?.({ error: outer, path: undefined, input: undefined, ctx, type, req });
      const response: TRPCResponse = { error: getErrorShape({ config, ctx, error: outer, input: undefined, path: undefined, type }) };
      status = getHTTPStatusCode([response], [outer]);
      body = JSON.stringify(transformTRPCResponse(config, response));
    }
    if (res.statusCode === 200) res.statusCode = status;
    res.setHeader("content-type", "application/json");
    res.setHeader("vary", "trpc-accept, accept");
    res.end(body);
  }

  /** What the adapter's exception handler does when handling itself throws. */
  function fail(req: IncomingMessage, res: ServerResponse, cause: unknown) {
    const error = getTRPCErrorFromUnknown(cause);
    onError?.({ error, path: undefined, input: undefined, ctx: undefined, type: "unknown", req });
    if (res.headersSent) return void res.end();
    const shape = getErrorShape({ config, error, type: "unknown", path: undefined, input: undefined, ctx: undefined });
    res.statusCode = shape.data.httpStatus;
    res.end(JSON.stringify(transformTRPCResponse(config, { error: shape })));
  }

  return (req, res) => {
    const url = req.url ?? "";
    if (!url.startsWith(BASE)) return false;
    const query = url.indexOf("?", BASE.length);
    const path = query === -1 ? url.slice(BASE.length) : url.slice(BASE.length, query);
    const proc = procedures.get(path);
    if (!proc) return false;
    const { headers } = req;
    if (headers["trpc-accept"] !== undefined || headers.accept?.includes("jsonl")) return false;
    if (!hosts.ok(headers.host)) return false;
    const type = proc._def.type as ProcedureType;
    const contentType = headers["content-type"];
    if (req.method === "POST") {
      if (type !== "mutation" || query !== -1 || !isJsonContentType(contentType)) return false;
      readBody(
        req,
        maxBodySize,
        (text) => void respond(req, res, path, proc, text).catch((cause: unknown) => fail(req, res, cause)),
        () => tooLarge(res),
      );
      return true;
    }
    if (req.method === "GET") {
      if (type !== "query" || (contentType !== undefined && !isJsonContentType(contentType))) return false;
      let input: string | undefined;
      if (query !== -1) {
        const params = new URLSearchParams(url.slice(query + 1));
        for (const key of params.keys()) if (key !== "input") return false;
        input = params.get("input") ?? undefined;
      }
      // A GET's body is never read by tRPC; Node discards it.
      void respond(req, res, path, proc, input).catch((cause: unknown) => fail(req, res, cause));
      return true;
    }
    return false;
  };
}

/** As resolveResponse compares media types: case-insensitive, parameters ignored. */
function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  if (value === "application/json") return true;
  const semicolon = value.indexOf(";");
  return (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase() === "application/json";
}

/** resolveResponse's check for results a non-streaming response cannot carry. */
function isDataStream(value: unknown): boolean {
  if (!isObject(value)) return false;
  if (isAsyncIterable(value)) return true;
  const values = Object.values(value);
  return values.some(isPromise) || values.some(isAsyncIterable);
}

/**
 * The adapter builds `new URL(req.url, "http://" + host)` and answers 400 when
 * that throws (a malformed Host header). The lean path takes only hosts that
 * parse; each distinct host is checked once.
 */
class HostCheck {
  readonly #valid = new Set<string>();

  ok(host: string | undefined): boolean {
    if (host === undefined || this.#valid.has(host)) return true;
    if (!URL.canParse(`${BASE}x`, `http://${host}`)) return false;
    if (this.#valid.size >= 256) this.#valid.clear();
    this.#valid.add(host);
    return true;
  }
}
