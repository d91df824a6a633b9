import type { OpenAPIObject } from "trpc-to-openapi";

/**
 * The learner Swagger's "Try it out" prefills: Sam Student, the first demo
 * learner `pnpm start` seeds on a fresh database (seedDemo.ts: admin 1,
 * instructor 2, Sam 3, enrolled in PLAYER and COACH).
 */
export const EXAMPLE_LEARNER_ID = 3;

/**
 * What every input field is prefilled with: harmless on a real server (issue
 * 17: the generated sample was userId 1, the admin, with 1,000,000 XP, 1000
 * sessions and a random key, which jumped a real learner to the top level).
 * An enrolled demo learner, small XP, one session, an obvious key; writes
 * that are already in effect where possible (enroll an enrolled learner, the
 * guard as `pnpm start` leaves it).
 */
export const FIELD_EXAMPLES: Record<string, unknown> = {
  userId: EXAMPLE_LEARNER_ID,
  specialization: "PLAYER",
  xpGained: 150,
  sessionsCompleted: 1,
  idempotencyKey: "example-key-1",
  newLevel: 2,
  reason: "example: advanced by hand",
  xpChange: 0,
  sessionsChange: 0,
  source: "progress",
  name: "Example Learner",
  email: "learner@example.com",
  enabled: true,
  limit: 20,
  sampleLimit: 20,
  // admin.putTrack / removeTrack: a track of its own, so trying them touches no seed track.
  id: "EXAMPLE",
  levels: [
    { level: 1, minXp: 0 },
    { level: 2, minXp: 100 },
    { level: 3, minXp: 300 },
  ],
};

/** Where a bearer token comes from, shown in Swagger's Authorize dialog. */
export const TOKEN_HELP =
  "A JWT signed with the server's AUTH_SECRET. `pnpm start` prints ready-made admin, instructor and student tokens in its start banner; " +
  "mint more with `pnpm --silent --filter @coupler/api token --sub <user id> --role student|instructor|admin` " +
  "(same COUPLER_DATA_DIR or AUTH_SECRET as the server). Paste the token alone, without `Bearer `.";

interface Operation {
  parameters?: { name: string; in: string; example?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: { properties?: Record<string, unknown> }; example?: unknown }> };
}

/** Adds FIELD_EXAMPLES to every operation's query parameters and JSON body (in place; returns `document`). */
export function withExamples(document: OpenAPIObject): OpenAPIObject {
  for (const item of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(item as Record<string, Operation>)) {
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in === "query" && parameter.name in FIELD_EXAMPLES)
          parameter.example = FIELD_EXAMPLES[parameter.name];
      }
      const json = operation.requestBody?.content?.["application/json"];
      const fields = Object.keys(json?.schema?.properties ?? {});
      if (json && fields.length > 0)
        json.example = Object.fromEntries(fields.filter((f) => f in FIELD_EXAMPLES).map((f) => [f, FIELD_EXAMPLES[f]]));
    }
  }
  return document;
}
