import type { IncomingMessage, ServerResponse } from "node:http";
import type { AnyTRPCRouter, inferRouterContext } from "@trpc/server";
import {
  parseJsonInput,
  procedureTable,
  respondToCall,
  unhandledErrorBody,
  type HttpContextFactory,
  type ProcedureErrorHandler,
} from "../trpcInternals.ts";
import { readBody } from "./readBody.ts";

const BASE = "/trpc/";

export interface LeanHandlerOptions<TRouter extends AnyTRPCRouter> {
  router: TRouter;
  /** Bodies above this many bytes are refused with `tooLarge`, whether or not they announced a content-length. */
  maxBodySize: number;
  createContext: HttpContextFactory<TRouter>;
  /** Called for every failed call, with what the standalone adapter passes to its own `onError`. */
  onError?: ProcedureErrorHandler<inferRouterContext<TRouter>>;
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
  const { router, maxBodySize, createContext, onError, tooLarge } = opts;
  const procedures = procedureTable(router);
  const hosts = new HostCheck();

  /** Runs the call the way resolveResponse's single-call branch does (trpcInternals.ts), and writes the answer. */
  async function respond(req: IncomingMessage, res: ServerResponse, path: string, raw: string | undefined) {
    const { status, body } = await respondToCall(router, {
      req,
      res,
      path,
      getInput: () => parseJsonInput(router, raw),
      createContext,
      onError,
    });
    if (res.statusCode === 200) res.statusCode = status;
    res.setHeader("content-type", "application/json");
    res.setHeader("vary", "trpc-accept, accept");
    res.end(body);
  }

  /** What the adapter's exception handler does when handling itself throws. */
  function fail(req: IncomingMessage, res: ServerResponse, cause: unknown) {
    const { status, body } = unhandledErrorBody(router, req, cause, onError);
    if (res.headersSent) return void res.end();
    res.statusCode = status;
    res.end(body);
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
    const { type } = proc;
    const contentType = headers["content-type"];
    if (req.method === "POST") {
      if (type !== "mutation" || query !== -1 || !isJsonContentType(contentType)) return false;
      readBody(
        req,
        maxBodySize,
        (text) => void respond(req, res, path, text).catch((cause: unknown) => fail(req, res, cause)),
        () => tooLarge(res),
      );
      return true;
    }
    if (req.method === "GET") {
      if (type !== "query" || (contentType !== undefined && !isJsonContentType(contentType))) return false;
      // The lean path never reads a GET's body; one announced over the limit goes to the server's check (413), as on tRPC's adapter.
      if (Number(headers["content-length"] ?? 0) > maxBodySize) return false;
      let input: string | undefined;
      if (query !== -1) {
        const params = new URLSearchParams(url.slice(query + 1));
        for (const key of params.keys()) if (key !== "input") return false;
        input = params.get("input") ?? undefined;
      }
      // A GET's body is never read by tRPC; Node discards it.
      void respond(req, res, path, input).catch((cause: unknown) => fail(req, res, cause));
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
