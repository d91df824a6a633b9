import { generateOpenApiDocument, type OpenAPIObject } from "trpc-to-openapi";
import { appRouter } from "../root.ts";
import { TOKEN_HELP, withExamples } from "./examples.ts";

/** Where the REST routes are mounted; the document's server URL, relative so "try it" calls the server that served it. */
export const REST_BASE = "/api";

/** The REST paths of `bench.*`, which a server serves only in bench mode (COUPLER_BENCH_MODE). */
const BENCH_PATHS = "/bench/";

let full: OpenAPIObject | undefined;
let withoutBench: OpenAPIObject | undefined;

/**
 * The OpenAPI 3.1 description of every procedure the server serves, built
 * from the router's `meta.openapi`, input and output schemas (once per
 * process). `bench.*` is described only when `benchMode` is on: elsewhere its
 * routes answer 404, so listing them sent readers to routes that do not exist
 * (issue 24). Every operation requires the bearer token (`security:
 * [{ Authorization: [] }]`), whose scheme says where tokens come from; inputs
 * are prefilled with harmless examples (examples.ts).
 */
export function openApiDocument(options: { benchMode: boolean }): OpenAPIObject {
  const document = fullDocument();
  if (options.benchMode) return document;
  withoutBench ??= {
    ...document,
    paths: Object.fromEntries(Object.entries(document.paths ?? {}).filter(([path]) => !path.startsWith(BENCH_PATHS))),
  };
  return withoutBench;
}

function fullDocument(): OpenAPIObject {
  full ??= withExamples(
    generateOpenApiDocument(appRouter, {
      title: "Coupler API",
      description:
        "Progress and license kept in lockstep. The same procedures as the tRPC API at /trpc, as REST routes under /api: " +
        "mutations are POST with a JSON body, queries GET with query parameters. Errors carry tRPC's shape: " +
        "`code` (e.g. BAD_REQUEST), `message`, and `data` with `couplerCode` (e.g. VALIDATION, UNAUTHENTICATED), `retryable` and `issues`. " +
        "The prefilled examples act on the demo learner `pnpm start` seeds (user 3) with 150 XP and the key example-key-1.",
      version: "0.1.0",
      baseUrl: REST_BASE,
      docsUrl: "/docs",
      securitySchemes: {
        Authorization: { type: "http", scheme: "bearer", bearerFormat: "JWT", description: TOKEN_HELP },
      },
    }),
  );
  return full;
}
