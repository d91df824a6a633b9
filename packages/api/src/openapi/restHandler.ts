import type { IncomingMessage, ServerResponse } from "node:http";
import { TRPCError, type AnyTRPCRouter, type inferRouterContext } from "@trpc/server";
import { readBody } from "../http/readBody.ts";
import {
  callProcedure,
  failedCall,
  parseJsonInput,
  procedureTable,
  type CallResult,
  type HttpContextFactory,
  type ProcedureErrorHandler,
} from "../trpcInternals.ts";

interface Route {
  method: "GET" | "POST";
  /** The tRPC path, e.g. "progression.levelUp". */
  path: string;
  /** For GET: how each query parameter becomes the type its input field expects. */
  fields: Record<string, string>;
}

export interface RestHandlerOptions<TRouter extends AnyTRPCRouter> {
  router: TRouter;
  /** Where the routes are mounted, e.g. "/api". */
  base: string;
  maxBodySize: number;
  createContext: HttpContextFactory<TRouter>;
  onError?: ProcedureErrorHandler<inferRouterContext<TRouter>>;
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
  const routes = new Map<string, Route>();
  for (const { path, openapi, inputs } of procedureTable(router).values()) {
    if (openapi) routes.set(openapi.path, { method: openapi.method, path, fields: fieldTypes(inputs) });
  }

  /** Calls the route's procedure (trpcInternals.ts) and answers its output, or the error in REST's envelope. */
  async function call(req: IncomingMessage, res: ServerResponse, route: Route | undefined, getInput: () => unknown) {
    const result: CallResult<TRouter> = route
      ? await callProcedure(router, { req, res, path: route.path, getInput, createContext, onError })
      : failedCall(router, {
          req,
          cause: new TRPCError({
            code: "NOT_FOUND",
            message: `No REST route ${req.method} ${req.url?.split("?", 1)[0]}`,
          }),
          path: undefined,
          input: undefined,
          ctx: undefined,
          type: "unknown",
          onError,
        });
    try {
      answer(res, result);
    } catch (cause) {
      // An output JSON cannot carry (a BigInt, a cycle): a 500 like any other failure.
      answer(
        res,
        failedCall(router, {
          req,
          cause,
          path: route?.path,
          input: undefined,
          ctx: result.ctx,
          type: result.type,
          onError,
        }),
      );
    }
  }

  /** A success answers the procedure's output; a failure tRPC's error shape in REST's envelope. */
  function answer(res: ServerResponse, { response, status }: CallResult<TRouter>) {
    if ("result" in response) return send(res, 200, response.result.data);
    const shape = response.error as { message: string; data: { code: string } };
    send(res, status, { message: shape.message, code: shape.data.code, data: shape.data });
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
      void call(
        req,
        res,
        route,
        fail(new TRPCError({ code: "METHOD_NOT_SUPPORTED", message: `${route.path} takes ${route.method}` })),
      );
    } else if (route?.method === "POST") {
      if (!isJson(req.headers["content-type"])) {
        void call(
          req,
          res,
          route,
          fail(new TRPCError({ code: "UNSUPPORTED_MEDIA_TYPE", message: "send the input as application/json" })),
        );
        return true;
      }
      readBody(
        req,
        maxBodySize,
        (text) => void call(req, res, route, () => parseJsonInput(router, text)),
        () => tooLarge(res),
      );
    } else if (route) {
      const params = [...new URLSearchParams(query === -1 ? "" : url.slice(query + 1))];
      const repeated = params.find(([key], i) => params.findIndex(([other]) => other === key) !== i)?.[0];
      void call(
        req,
        res,
        route,
        repeated === undefined
          ? () => Object.fromEntries(params.map(([key, value]) => [key, convert(route.fields[key], value)]))
          : fail(new TRPCError({ code: "BAD_REQUEST", message: `query parameter ${repeated} given more than once` })),
      );
    } else {
      void call(req, res, undefined, () => undefined);
    }
    return true;
  };
}

/**
 * A plain decimal number as a query value: an optional minus, digits without
 * a leading zero, an optional fraction. Not what `Number()` takes, which reads
 * "0x3", " 3" and "3e0" as 3 too, so `userId=0x3` read learner 3 (issue 24).
 */
const DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/** A query value as its field's type: numbers (plain decimals only) and booleans from their text; anything else stays a string for the schema to refuse. */
function convert(type: string | undefined, value: string): unknown {
  if (type === "number" && DECIMAL.test(value)) return Number(value);
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
function fieldTypes(inputs: readonly unknown[]): Record<string, string> {
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
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json" }).end(text);
}
