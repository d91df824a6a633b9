import { generateOpenApiDocument, type OpenAPIObject } from "trpc-to-openapi";
import { appRouter } from "../root.ts";
import { TOKEN_HELP, withExamples } from "./examples.ts";

/** Where the REST routes are mounted; the document's server URL, relative so "try it" calls the server that served it. */
export const REST_BASE = "/api";

let document: OpenAPIObject | undefined;

/**
 * The OpenAPI 3.1 description of every procedure, built from the router's
 * `meta.openapi`, input and output schemas (once per process). Every operation
 * requires the bearer token (`security: [{ Authorization: [] }]`), whose
 * scheme says where tokens come from; inputs are prefilled with harmless
 * examples (examples.ts).
 */
export function openApiDocument(): OpenAPIObject {
  document ??= withExamples(
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
  return document;
}
