import { describe, expect, it } from "vitest";
import { DOCS_HTML } from "../src/openapi/docsPage.ts";
import { inputs } from "@coupler/core";
import { appRouter } from "../src/root.ts";
import { procedureTable } from "../src/trpcInternals.ts";
import { createCoupler } from "@coupler/testing";
import { EXAMPLE_LEARNER_ID } from "../src/openapi/examples.ts";
import { seedDemo } from "../src/seedDemo.ts";
import { INSTRUCTOR_ID, post, startTestApi, useApiWithLearner } from "./harness.ts";

const fixture = useApiWithLearner();

interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, unknown>;
}
interface OpenApi {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes: Record<string, { type: string; scheme: string }> };
}

/**
 * Every procedure of the router a server outside bench mode serves, with its
 * type: computed, so a new procedure without `meta.openapi` fails here.
 * `bench.*` is described only in bench mode (corners.test.ts).
 */
const PROCEDURES = [...procedureTable(appRouter).values()]
  .filter(({ path }) => !path.startsWith("bench."))
  .map(({ path, type }) => ({ path, type }));

async function rest(method: "GET" | "POST", path: string, input: Record<string, unknown>, token?: string) {
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res =
    method === "GET"
      ? await fetch(
          `${fixture.api.url}/api${path}?${new URLSearchParams(Object.entries(input).map(([k, v]): [string, string] => [k, String(v)]))}`,
          { headers: auth },
        )
      : await fetch(`${fixture.api.url}/api${path}`, {
          method,
          headers: { ...auth, "content-type": "application/json" },
          body: JSON.stringify(input),
        });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown> & { data?: Record<string, unknown> },
  };
}

describe("GET /openapi.json", () => {
  it("describes every procedure of the router, each protected by the bearer scheme", async () => {
    const res = await fetch(`${fixture.api.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as OpenApi;
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.servers).toEqual([{ url: "/api" }]);
    expect(doc.components.securitySchemes.Authorization).toMatchObject({ type: "http", scheme: "bearer" });
    const described = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ path, method, op })),
    );
    expect(PROCEDURES.length).toBeGreaterThan(10);
    for (const { path, type } of PROCEDURES) {
      const restPath = `/${path.replace(".", "/")}`;
      const entry = described.find((d) => d.path === restPath);
      expect(entry, `${path} is missing from /openapi.json`).toBeDefined();
      expect(entry?.method).toBe(type === "query" ? "get" : "post");
      expect(entry?.op.security).toEqual([{ Authorization: [] }]);
      expect(Object.keys(entry?.op.responses ?? {})).toEqual(
        expect.arrayContaining(["200", "400", "401", "403", "409", "500"]),
      );
    }
    expect(described).toHaveLength(PROCEDURES.length);
  });
});

describe("REST routes under /api", () => {
  const levelUp = (xpGained: unknown) => ({
    userId: fixture.learner,
    specialization: "PLAYER",
    xpGained,
    sessionsCompleted: 1,
  });

  it("award XP on POST /api/progression/levelUp with a bearer token, like the tRPC call", async () => {
    const token = await fixture.api.token("instructor", INSTRUCTOR_ID);
    const { status, body } = await rest(
      "POST",
      "/progression/levelUp",
      { ...levelUp(150), idempotencyKey: "rest-levelup-1" },
      token,
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({ userId: fixture.learner, totalXp: 150, completedSessions: 1, replayed: false });
    const replay = await rest(
      "POST",
      "/progression/levelUp",
      { ...levelUp(150), idempotencyKey: "rest-levelup-1" },
      token,
    );
    expect(replay.body).toMatchObject({ totalXp: 150, replayed: true });
    const read = await rest("GET", "/progression/get", { userId: fixture.learner, specialization: "PLAYER" }, token);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ progress: { totalXp: 150, completedSessions: 1 } });
  });

  const CASES: [string, () => Promise<string | undefined>, unknown][] = [
    ["bad input", () => fixture.api.token("instructor", INSTRUCTOR_ID), -5],
    ["no token", async () => undefined, 10],
    ["a student's token", () => fixture.api.token("student", fixture.learner), 10],
  ];
  for (const [name, token, xp] of CASES) {
    it(`answers ${name} with the status and error data of the tRPC path`, async () => {
      const viaRest = await rest("POST", "/progression/levelUp", levelUp(xp), await token());
      const viaTrpc = await post(fixture.api.url, "progression.levelUp", JSON.stringify(levelUp(xp)), await token());
      expect(viaRest.status).toBe(viaTrpc.status);
      expect(viaRest.status).toBeGreaterThanOrEqual(400);
      expect(viaRest.body.code).toBe(viaTrpc.body.error?.data.code);
      expect(viaRest.body.data).toEqual(viaTrpc.body.error?.data);
      expect(viaRest.body.message).toBe(viaTrpc.body.error?.message);
    });
  }

  // Regression: trpc-to-openapi's handler set `coerce` on the shared input schemas on its first REST call,
  // after which /trpc and the coupler itself took "100" for 100.
  it("leaves /trpc and the library's schemas strict after REST calls", async () => {
    const token = await fixture.api.token("instructor", INSTRUCTOR_ID);
    expect((await rest("POST", "/progression/levelUp", levelUp(5), token)).status).toBe(200);
    expect(
      (await rest("GET", "/progression/get", { userId: fixture.learner, specialization: "PLAYER" }, token)).status,
    ).toBe(200);
    const viaTrpc = await post(
      fixture.api.url,
      "progression.levelUp",
      JSON.stringify({ ...levelUp(5), xpGained: "100" }),
      token,
    );
    expect(viaTrpc.status).toBe(400);
    expect(inputs.levelUpInput.safeParse({ ...levelUp(5), xpGained: "100" }).success).toBe(false);
    expect((await rest("POST", "/progression/levelUp", { ...levelUp(5), xpGained: "100" }, token)).status).toBe(400);
  });

  it("reads GET query parameters as the types their fields expect, and refuses what does not convert", async () => {
    const token = await fixture.api.token("instructor", INSTRUCTOR_ID);
    const page = await rest(
      "GET",
      "/progression/history",
      { userId: fixture.learner, specialization: "PLAYER", limit: 2 },
      token,
    );
    expect(page.status).toBe(200);
    const bad = await rest("GET", "/progression/history", { userId: "seven", specialization: "PLAYER" }, token);
    expect(bad.status).toBe(400);
    expect(bad.body.data?.issues).toEqual(expect.arrayContaining([expect.objectContaining({ path: "userId" })]));
  });

  it("counts a REST call in the request metrics under its procedure's name", async () => {
    const token = await fixture.api.token("instructor", INSTRUCTOR_ID);
    const series = 'http_request_duration_seconds_count{procedure="progression.history",status="200"}';
    const count = async () => {
      const text = await (await fetch(fixture.api.server.metricsUrl)).text();
      return Number(
        text
          .split("\n")
          .find((line) => line.startsWith(`${series} `))
          ?.split(" ")[1] ?? 0,
      );
    };
    const before = await count();
    expect(
      (await rest("GET", "/progression/history", { userId: fixture.learner, specialization: "PLAYER" }, token)).status,
    ).toBe(200);
    await expect.poll(count).toBe(before + 1);
  });

  it("answers an unknown route 404 and the wrong method 405, in the error shape", async () => {
    const token = await fixture.api.token("instructor", INSTRUCTOR_ID);
    const missing = await rest("GET", "/progression/nothing", {}, token);
    expect(missing).toMatchObject({ status: 404, body: { code: "NOT_FOUND" } });
    const wrongMethod = await rest("GET", "/progression/levelUp", levelUp(1), token);
    expect(wrongMethod).toMatchObject({ status: 405, body: { code: "METHOD_NOT_SUPPORTED" } });
  });

  it("answers an unknown learner with NOT_FOUND and couplerCode, like tRPC", async () => {
    const token = await fixture.api.token("instructor", INSTRUCTOR_ID);
    const input = { userId: 2_000_000_000, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 1 };
    const viaRest = await rest("POST", "/progression/levelUp", input, token);
    expect(viaRest.status).toBe(404);
    expect(viaRest.body.data).toMatchObject({ code: "NOT_FOUND", couplerCode: "NOT_FOUND", retryable: false });
  });
});

describe("GET /trpc without a procedure", () => {
  it("points at the documentation and the OpenAPI document", async () => {
    for (const path of ["/trpc", "/trpc/"]) {
      const res = await fetch(`${fixture.api.url}${path}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ docs: "/docs", openapi: "/openapi.json", rest: "/api" });
    }
    // tRPC calls are untouched.
    const read = await fetch(
      `${fixture.api.url}/trpc/progression.get?input=${encodeURIComponent(JSON.stringify({ userId: fixture.learner, specialization: "PLAYER" }))}`,
      {
        headers: { authorization: `Bearer ${await fixture.api.token("student", fixture.learner)}` },
      },
    );
    expect(read.status).toBe(200);
  });
});

describe("GET /docs", () => {
  it("serves Swagger UI and its assets from this server, with no external URL in the page", async () => {
    const res = await fetch(`${fixture.api.url}/docs`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toBe(DOCS_HTML);
    expect(html).not.toMatch(/https?:\/\//);
    for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      const asset = await fetch(`${fixture.api.url}${src[1]}`);
      expect(asset.status, src[1]).toBe(200);
    }
  });
});

describe("the guide's procedure table (docs/guide/api.md)", () => {
  it("names every field progression.validate, progression.levelUp and progression.sync return (regression: validate's and sync's outputs omitted fields)", async () => {
    const { readFile } = await import("node:fs/promises");
    const { consistencyReport, levelUpResult, syncResult } = await import("../src/router/outputs.ts");
    const guide = await readFile(new URL("../../../docs/guide/api.md", import.meta.url), "utf8");
    for (const [path, schema] of [
      ["progression.validate", consistencyReport],
      ["progression.levelUp", levelUpResult],
      ["progression.sync", syncResult],
    ] as const) {
      const row = guide.split("\n").find((line) => line.startsWith(`| \`${path}\``)) ?? "";
      const output = row.split("→").at(-1) ?? "";
      for (const field of Object.keys(schema.shape))
        expect(output, `${path}: ${field}`).toMatch(new RegExp(`\\b${field}\\b`));
    }
  });
});

describe("Swagger's prefilled examples", () => {
  it("prefill every JSON body field and the known query parameters, with levelUp's harmless: the demo learner, 150 XP, one session, an obvious key", async () => {
    const doc = (await (await fetch(`${fixture.api.url}/openapi.json`)).json()) as {
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody?: {
              content: Record<
                string,
                { schema: { properties: Record<string, unknown> }; example?: Record<string, unknown> }
              >;
            };
          }
        >
      >;
    };
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const operation of Object.values(item)) {
        const json = operation.requestBody?.content["application/json"];
        if (json)
          expect(Object.keys(json.example ?? {}).sort(), path).toEqual(Object.keys(json.schema.properties).sort());
      }
    }
    expect(doc.paths["/progression/levelUp"]?.post?.requestBody?.content["application/json"]?.example).toEqual({
      userId: EXAMPLE_LEARNER_ID,
      specialization: "PLAYER",
      xpGained: 150,
      sessionsCompleted: 1,
      idempotencyKey: "example-key-1",
    });
  });

  it("run on a freshly seeded demo database, levelUp's example awards the enrolled demo student 150 XP and replays on a second try", async () => {
    await using api = await startTestApi();
    const [, , sam] = await seedDemo(api.database, createCoupler(api.database));
    expect(sam).toMatchObject({ id: EXAMPLE_LEARNER_ID, role: "student" });
    const doc = (await (await fetch(`${api.url}/openapi.json`)).json()) as {
      paths: Record<string, { post: { requestBody: { content: Record<string, { example: unknown }> } } }>;
    };
    const example = JSON.stringify(
      doc.paths["/progression/levelUp"]?.post.requestBody.content["application/json"]?.example,
    );
    const token = await api.token("instructor", 2);
    const call = () =>
      fetch(`${api.url}/api/progression/levelUp`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: example,
      });
    expect(await (await call()).json()).toMatchObject({
      userId: EXAMPLE_LEARNER_ID,
      totalXp: 150,
      newLevel: 2,
      replayed: false,
    });
    expect(await (await call()).json()).toMatchObject({ totalXp: 150, replayed: true });
  });

  it("say in the bearer scheme where a token comes from", async () => {
    const doc = (await (await fetch(`${fixture.api.url}/openapi.json`)).json()) as OpenApi & {
      components: { securitySchemes: Record<string, { description?: string }> };
    };
    const description = doc.components.securitySchemes.Authorization?.description ?? "";
    expect(description).toContain("start banner");
    expect(description).toContain("pnpm --silent --filter @coupler/api token --sub");
  });
});

describe("the server's front doors", () => {
  it("answers GET / with a small page linking /docs, /openapi.json, /metrics and /api (regression: a bare 404)", async () => {
    const res = await fetch(`${fixture.api.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    for (const href of ["/docs", "/openapi.json", "/metrics", "/api"]) expect(html).toContain(`href="${href}"`);
  });

  it("answers GET /api with where the REST routes are described (regression: a bare 404)", async () => {
    const res = await fetch(`${fixture.api.url}/api`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ docs: "/docs", openapi: "/openapi.json" });
    // Counted as its own route, not as an unknown path (regression).
    const metrics = await (await fetch(`${fixture.api.url}/metrics`)).text();
    expect(metrics).toMatch(/http_request_duration_seconds_count\{procedure="\/api",status="200"\} [1-9]/);
  });
});
