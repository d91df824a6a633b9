import type { IncomingMessage, ServerResponse } from "node:http";
import type { AnyTRPCProcedure, AnyTRPCRouter, inferRouterContext } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { TRPCError, getErrorShape, getTRPCErrorFromUnknown, type ProcedureType } from "@trpc/server/unstable-core-do-not-import";
import type { LeanErrorHandlerOptions } from "../http/leanHandler.ts";
import { readBody } from "../http/readBody.ts";

interface Route {
  method: "GET" | "POST";
  /** The tRPC path, e.g. "progression.levelUp". */
  path: string;
  proc: AnyTRPCProcedure;
  /** For GET: how each query parameter becomes the type its input field expects. */
  fields: Record<string, string>;
}

export interface RestHandlerOptions<TRouter extends AnyTRPCRouter> {
  router: TRouter;
  /** Where the routes are mounted, e.g. "/api". */
  base: string;
  maxBodySize: number;
  createContext: (opts: { req: IncomingMessage; res: ServerResponse }) => Promise<inferRouterContext<TRouter>>;
  onError?: (opts: LeanErrorHandlerOptions<inferRouterContext<TRouter>>) => void;
  tooLarge: (res: ServerResponse) => void;
}

/**
 * REST routes for every procedure with `meta.openapi` (the routes the OpenAPI
 * document describes): POST with a JSON body for mutations, GET with query
 * parameters for queries. The procedure is called through tRPC (middlewares,
 * auth, input parsing, error formatter), so status codes and error `data` are
 * those of /trpc; a success answers the procedure's output as the body.
 *
 * Not trpc-to-openapi's own handler: to coerce query strings it sets
 * `coerce` on the input schemas themselves, for good and process-wide, after
 * which /trpc and the library (which share those schemas) took `"100"` for
 * 100. Here only query values are converted, by the type of their field.
 */
export function createRestHandler<TRouter extends AnyTRPCRouter>(opts: RestHandlerOptions<TRouter>) {
  const { router, base, maxBodySize, createContext, onError, tooLarge } = opts;
  const config = router._def._config;
  const routes = new Map<string, Route>();
  for (const [path, proc] of Object.entries(router._def.procedures as Record<string, AnyTRPCProcedure>)) {
    const meta = (proc._def.meta as { openapi?: { method: "GET" | "POST"; path: string } } | undefined)?.openapi;
    if (meta) routes.set(meta.path, { method: meta.method, path, proc, fields: fieldTypes(proc._def.inputs) });
  }

  async function call(req: IncomingMessage, res: ServerResponse, route: Route | undefined, getInput: () => unknown) {
    const type = (route?.proc._def.type ?? "unknown") as ProcedureType;
    let ctx: inferRouterContext<TRouter> | undefined;
    let input: unknown;
    try {
      if (!route) throw new TRPCError({ code: "NOT_FOUND", message: `No REST route ${req.method} ${req.url?.split("?", 1)[0]}` });
      ctx = await createContext({ req, res });
      const data = await route.proc({ path: route.path, getRawInput: async () => (input = getInput()), ctx, type, signal: undefined, batchIndex: 0 });
      send(res, 200, data);
    } catch (cause) {
      const error = getTRPCErrorFromUnknown(cause);
      onError?.({ error, path: route?.path, input, ctx, type, req });
      const shape = getErrorShape({ config, ctx, error, input, path: route?.path, type });
      send(res, getHTTPStatusCodeFromError(error), { message: shape.message, code: shape.data.code, data: shape.data });
    }
  }

  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url ?? "/";
    if (!url.startsWith(`${base}/`)) return false;
    const query = url.indexOf("?");
    const route = routes.get(url.slice(base.length, query === -1 ? undefined : query));
    const fail = (error: TRPCError) => () => {
      throw error;
    };
    if (route && req.method !== route.method) {
      void call(req, res, route, fail(new TRPCError({ code: "METHOD_NOT_SUPPORTED", message: `${route.path} takes ${route.method}` })));
    } else if (route?.method === "POST") {
      if (!isJson(req.headers["content-type"])) {
        void call(req, res, route, fail(new TRPCError({ code: "UNSUPPORTED_MEDIA_TYPE", message: "send the input as application/json" })));
        return true;
      }
      readBody(req, maxBodySize, (text) => void call(req, res, route, () => parseJson(text)), () => tooLarge(res));
    } else if (route) {
      const params = new URLSearchParams(query === -1 ? "" : url.slice(query + 1));
      void call(req, res, route, () => Object.fromEntries([...params].map(([key, value]) => [key, convert(route.fields[key], value)])));
    } else {
      void call(req, res, undefined, () => undefined);
    }
    return true;
  };
}

function parseJson(text: string): unknown {
  try {
    return text === "" ? undefined : (JSON.parse(text) as unknown);
  } catch (cause) {
    // The error formatter reports a SyntaxError cause as PARSE_ERROR, as on /trpc.
    throw new TRPCError({ code: "BAD_REQUEST", message: cause instanceof Error ? cause.message : "Invalid JSON", cause });
  }
}

/** A query value as its field's type: numbers and booleans from their text; anything that does not convert stays a string for the schema to refuse. */
function convert(type: string | undefined, value: string): unknown {
  if (type === "number" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  if (type === "boolean" && (value === "true" || value === "false")) return value === "true";
  return value;
}

interface ZodDef {
  type: string;
  innerType?: { _zod: { def: ZodDef } };
  in?: { _zod: { def: ZodDef } };
  shape?: Record<string, { _zod: { def: ZodDef } }>;
}

/** The leaf type of every field of a procedure's object inputs, seen through optional, default, nullable and pipes. */
function fieldTypes(inputs: unknown[]): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const input of inputs) {
    const shape = unwrap((input as { _zod: { def: ZodDef } })._zod.def).shape ?? {};
    for (const [key, field] of Object.entries(shape)) fields[key] = unwrap(field._zod.def).type;
  }
  return fields;
}

function unwrap(def: ZodDef): ZodDef {
  const inner = def.innerType ?? def.in;
  return inner ? unwrap(inner._zod.def) : def;
}

function isJson(value: string | undefined): boolean {
  return value !== undefined && value.split(";", 1)[0]?.trim().toLowerCase() === "application/json";
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}
