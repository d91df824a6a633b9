/**
 * Every use of tRPC's internals in the API, in one module: the router's
 * procedure table (`router._def`), calling a procedure outside tRPC's own
 * adapters, and the helpers of `@trpc/server/unstable-core-do-not-import`.
 * A lint rule (eslint.config.js) keeps every other file off them.
 *
 * These are not a public contract, so `@trpc/server` and `@trpc/client` are
 * pinned to one exact version (pnpm-workspace.yaml). Upgrading them is gated
 * by test/leanHttp.differential.test.ts, which compares what the lean path
 * answers with what tRPC's own adapter answers, request by request; and by
 * test/openapi.test.ts for the REST routes.
 *
 * The call itself mirrors the single-call branch of tRPC's `resolveResponse`
 * (src/unstable-core-do-not-import/http/resolveResponse.ts in @trpc/server):
 * createContext, the procedure (middlewares, input parsers), the error shape
 * through the router's errorFormatter, and the status from getHTTPStatusCode.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  TRPCError,
  getTRPCErrorFromUnknown,
  getTRPCErrorShape,
  transformTRPCResponse,
  type AnyTRPCProcedure,
  type AnyTRPCRouter,
  type TRPCProcedureType,
  type inferRouterContext,
  type inferRouterError,
} from "@trpc/server";
import { getHTTPStatusCode } from "@trpc/server/http";
import { isAsyncIterable, isObject, isPromise, type TRPCResponse } from "@trpc/server/unstable-core-do-not-import";

/** A procedure as the HTTP layers see it; `path` is its dotted name, e.g. "progression.levelUp". */
export interface ProcedureInfo {
  path: string;
  type: TRPCProcedureType;
  /** The REST route from `meta.openapi`, when the procedure has one. */
  openapi: { method: "GET" | "POST"; path: string } | undefined;
  /** The input parsers (zod schemas), outermost first. */
  inputs: readonly unknown[];
}

/** What tRPC's adapters pass to their `onError`, for one failed call. */
export interface ProcedureErrorHandlerOptions<TContext> {
  error: TRPCError;
  path: string | undefined;
  input: unknown;
  ctx: TContext | undefined;
  type: TRPCProcedureType | "unknown";
  req: IncomingMessage;
}

export type ProcedureErrorHandler<TContext> = (opts: ProcedureErrorHandlerOptions<TContext>) => void;

/** The request context factory the HTTP layers share with tRPC's standalone adapter. */
export type HttpContextFactory<TRouter extends AnyTRPCRouter> = (opts: {
  req: IncomingMessage;
  res: ServerResponse;
}) => Promise<inferRouterContext<TRouter>>;

/** The outcome of one call: its envelope (before the transformer) and status, as resolveResponse computes them. */
export interface CallResult<TRouter extends AnyTRPCRouter> {
  status: number;
  response: TRPCResponse<unknown, inferRouterError<TRouter>>;
  /** Set when the call failed; `response.error` is then its shape. */
  error: TRPCError | undefined;
  ctx: inferRouterContext<TRouter> | undefined;
  /** The procedure's type, "unknown" when there is none. */
  type: TRPCProcedureType | "unknown";
}

export interface CallOptions<TRouter extends AnyTRPCRouter> {
  req: IncomingMessage;
  res: ServerResponse;
  /** The procedure's dotted path (a key of `procedureTable(router)`). */
  path: string;
  /**
   * The procedure's raw input; called at most once, lazily (tRPC reads the
   * input only once a middleware or parser asks for it). A throw is the
   * call's error, reported with no input.
   */
  getInput: () => unknown;
  createContext: HttpContextFactory<TRouter>;
  onError?: ProcedureErrorHandler<inferRouterContext<TRouter>>;
}

interface Table {
  info: ReadonlyMap<string, ProcedureInfo>;
  procedures: ReadonlyMap<string, AnyTRPCProcedure>;
}

const tables = new WeakMap<AnyTRPCRouter, Table>();

function table(router: AnyTRPCRouter): Table {
  let found = tables.get(router);
  if (found) return found;
  const def = router._def;
  // The HTTP layers decide from the table synchronously, before reading a body; a lazy router would load only on its first call.
  if (Object.keys(def.lazy).length > 0)
    throw new Error("lazy() sub-routers are not supported by the API's HTTP layers");
  // `_def.procedures` is flat at run time ("progression.levelUp" → procedure), though typed as the nested record.
  const procedures = new Map(Object.entries(def.procedures as unknown as Record<string, AnyTRPCProcedure>));
  const info = new Map<string, ProcedureInfo>();
  for (const [path, proc] of procedures) {
    const openapi = (proc._def.meta as { openapi?: { method: "GET" | "POST"; path: string } } | undefined)?.openapi;
    info.set(path, {
      path,
      type: proc._def.type,
      openapi: openapi && { method: openapi.method, path: openapi.path },
      inputs: proc._def.inputs,
    });
  }
  found = { info, procedures };
  tables.set(router, found);
  return found;
}

/**
 * Every procedure of `router`, keyed by dotted path (built once per router).
 * Throws if the router has `lazy()` sub-routers, whose procedures are not
 * known until their first call.
 */
export function procedureTable(router: AnyTRPCRouter): ReadonlyMap<string, ProcedureInfo> {
  return table(router).info;
}

/**
 * Parses a call's input the way tRPC's JSON content type does: empty is no
 * input, otherwise JSON through the router's transformer. Malformed JSON
 * throws BAD_REQUEST with the SyntaxError as cause (the error formatter
 * reports it as PARSE_ERROR).
 */
export function parseJsonInput(router: AnyTRPCRouter, raw: string | undefined): unknown {
  try {
    const value = raw ? (JSON.parse(raw) as unknown) : undefined;
    return value === undefined ? undefined : router._def._config.transformer.input.deserialize(value);
  } catch (cause) {
    if (cause instanceof TRPCError) throw cause;
    throw new TRPCError({
      code: "BAD_REQUEST",
      message: cause instanceof Error ? cause.message : "Invalid input",
      cause,
    });
  }
}

/**
 * Calls the procedure at `opts.path` as resolveResponse does for a single
 * call: context, then the procedure; a failure is reported to `onError` with
 * the path, the input read so far and the context, shaped by the router's
 * errorFormatter, and given the status getHTTPStatusCode derives from the
 * shape. Never throws for a failed call; an unknown path is NOT_FOUND.
 */
export async function callProcedure<TRouter extends AnyTRPCRouter>(
  router: TRouter,
  opts: CallOptions<TRouter>,
): Promise<CallResult<TRouter>> {
  const { req, res, path, createContext, onError } = opts;
  const proc = table(router).procedures.get(path);
  const type = proc?._def.type ?? "unknown";
  let ctx: inferRouterContext<TRouter> | undefined;
  let read: { input: unknown } | { error: unknown } | undefined;
  const getRawInput = async () => {
    read ??= run(opts.getInput);
    if ("error" in read) throw read.error;
    return read.input;
  };
  try {
    if (!proc) throw new TRPCError({ code: "NOT_FOUND", message: `No procedure found on path "${path}"` });
    ctx = await createContext({ req, res });
    const data: unknown = await proc({
      path,
      getRawInput,
      ctx,
      type: proc._def.type,
      signal: undefined,
      batchIndex: 0,
    });
    return { status: 200, response: { result: { data } }, error: undefined, ctx, type };
  } catch (cause) {
    const input = read && "input" in read ? read.input : undefined;
    return failedCall(router, { req, cause, path, input, ctx, type, onError });
  }
}

export interface FailedCallOptions<TRouter extends AnyTRPCRouter> {
  req: IncomingMessage;
  /** What was thrown; anything but a TRPCError becomes INTERNAL_SERVER_ERROR with it as cause. */
  cause: unknown;
  path: string | undefined;
  input: unknown;
  ctx: inferRouterContext<TRouter> | undefined;
  type: TRPCProcedureType | "unknown";
  onError?: ProcedureErrorHandler<inferRouterContext<TRouter>>;
}

/**
 * A failure outside a procedure call (bad route, refused request), answered
 * as tRPC answers any error: reported to `onError`, shaped by the router's
 * errorFormatter, with the status getHTTPStatusCode derives from the shape.
 */
export function failedCall<TRouter extends AnyTRPCRouter>(
  router: TRouter,
  opts: FailedCallOptions<TRouter>,
): CallResult<TRouter> {
  const { req, path, input, ctx, type } = opts;
  const error = getTRPCErrorFromUnknown(opts.cause);
  opts.onError?.({ error, path, input, ctx, type, req });
  const shape = getTRPCErrorShape({
    config: router._def._config,
    error,
    type,
    path,
    input,
    ctx,
  }) as inferRouterError<TRouter>;
  const response: TRPCResponse<unknown, inferRouterError<TRouter>> = { error: shape };
  return { status: getHTTPStatusCode([response], [error]), response, error, ctx, type };
}

/**
 * A single /trpc call answered as resolveResponse answers it: the call
 * (`callProcedure`), then the body through the router's transformer. A
 * stream-like result (which a non-streaming response cannot carry) or a
 * failing serializer becomes an error reported without path or input, as
 * resolveResponse's outer catch does.
 */
export async function respondToCall<TRouter extends AnyTRPCRouter>(
  router: TRouter,
  opts: CallOptions<TRouter>,
): Promise<{ status: number; body: string }> {
  const config = router._def._config;
  const result = await callProcedure(router, opts);
  try {
    if (!result.error && "result" in result.response && isDataStream(result.response.result.data)) {
      throw new TRPCError({
        code: "UNSUPPORTED_MEDIA_TYPE",
        message: "Cannot use stream-like response in non-streaming request - use httpBatchStreamLink",
      });
    }
    return { status: result.status, body: JSON.stringify(transformTRPCResponse(config, result.response)) };
  } catch (cause) {
    const outer = failedCall(router, {
      req: opts.req,
      cause,
      path: undefined,
      input: undefined,
      ctx: result.ctx,
      type: result.type,
      onError: opts.onError,
    });
    return { status: outer.status, body: JSON.stringify(transformTRPCResponse(config, outer.response)) };
  }
}

/**
 * The body of a failure that escaped request handling altogether, as tRPC's
 * node adapter answers it (type "unknown", no path, input or context).
 */
export function unhandledErrorBody<TRouter extends AnyTRPCRouter>(
  router: TRouter,
  req: IncomingMessage,
  cause: unknown,
  onError?: ProcedureErrorHandler<inferRouterContext<TRouter>>,
): { status: number; body: string } {
  const failed = failedCall(router, {
    req,
    cause,
    path: undefined,
    input: undefined,
    ctx: undefined,
    type: "unknown",
    onError,
  });
  const shape = (failed.response as { error: { data: { httpStatus: number } } }).error;
  return {
    status: shape.data.httpStatus,
    body: JSON.stringify(transformTRPCResponse(router._def._config, failed.response)),
  };
}

/** A router's procedure record as its type spells it (slice → procedure), for the client's published types. */
export type RouterRecord<TRouter extends AnyTRPCRouter> = TRouter["_def"]["record"];

/** A procedure's input and output types, as declared (before a client's `void` for optional input). */
export type ProcedureTypes<TProcedure extends AnyTRPCProcedure> = TProcedure["_def"]["$types"];

function run(read: () => unknown): { input: unknown } | { error: unknown } {
  try {
    return { input: read() };
  } catch (error) {
    return { error };
  }
}

/** resolveResponse's check for results a non-streaming response cannot carry. */
function isDataStream(value: unknown): boolean {
  if (!isObject(value)) return false;
  if (isAsyncIterable(value)) return true;
  const values = Object.values(value);
  return values.some(isPromise) || values.some(isAsyncIterable);
}
