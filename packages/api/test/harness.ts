import { randomBytes } from "node:crypto";
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, expect, inject } from "vitest";
import { createCoupler, enrolledUser } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import type { TestDatabase } from "@coupler/testing";
// Brings in the ProvidedContext keys the global setup provides (for `inject` types).
import type {} from "@coupler/testing/globalSetup";
import { signToken, type Role } from "../src/auth.ts";
import { createCouplerClient, type CouplerClient, type CouplerClientOptions } from "../src/client.ts";
import { startServer, type RunningServer, type ServerOptions } from "../src/server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Which path the vitest project serves /trpc/ calls on (vitest.config.ts runs the HTTP tests on both). */
    leanHttp: boolean;
  }
}

/** Staff ids only appear in tokens and in the actor column; they need no users row. */
export const ADMIN_ID = 900_001;
export const INSTRUCTOR_ID = 900_002;

export interface TestApi extends AsyncDisposable {
  database: TestDatabase;
  server: RunningServer;
  url: string;
  secret: string;
  token(role: Role, sub: number, expiresIn?: string | number): Promise<string>;
  client(role: Role, sub?: number, options?: CouplerClientOptions): Promise<CouplerClient>;
  close(): Promise<void>;
}

/** The real server on a free loopback port, over this test file's own database. */
export async function startTestApi(
  options: Partial<ServerOptions> & { database?: TestDatabase } = {},
): Promise<TestApi> {
  const { database: given, ...serverOptions } = options;
  const database = given ?? (await useTestDatabase());
  const secret = serverOptions.authSecret ?? randomBytes(32).toString("hex");
  const server = await startServer({
    databaseUrl: database.url,
    authSecret: secret,
    port: 0,
    host: "127.0.0.1",
    poolSize: 10,
    integrityIntervalMs: 0,
    logLevel: "silent",
    leanHttp: inject("leanHttp"),
    ...serverOptions,
  });
  const token = (role: Role, sub: number, expiresIn: string | number = "10m") =>
    signToken({ sub, role }, secret, { expiresIn });
  const defaultSub = (role: Role) => (role === "admin" ? ADMIN_ID : INSTRUCTOR_ID);
  const close = async () => {
    await server.close();
    if (!given) await database.drop();
  };
  return {
    database,
    server,
    url: server.url,
    secret,
    token,
    client: async (role, sub = defaultSub(role), clientOptions) =>
      createCouplerClient(server.url, await token(role, sub), clientOptions),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Posts a raw body, for inputs the typed client would not let through. */
export async function post(
  url: string,
  path: string,
  body: string,
  token?: string,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${url}/trpc/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body,
  });
  return {
    status: res.status,
    body: (await res.json()) as { error?: { message: string; data: Record<string, unknown> }; result?: unknown },
  };
}

/** Awaits a call that must fail with tRPC code `code`, and returns the error's `data`. */
export async function expectTRPCError(
  promise: Promise<unknown>,
  code: string,
): Promise<Record<string, unknown> & { message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}, but the call succeeded`).toBeInstanceOf(TRPCClientError);
  const { data, message } = error as { data: Record<string, unknown>; message: string };
  expect(data.code, message).toBe(code);
  return { ...data, message };
}

export interface ApiWithLearner {
  api: TestApi;
  /** A learner enrolled in PLAYER and COACH. */
  learner: number;
}

/** This test file's API (started before all its tests, closed after) and one enrolled learner; read the fields inside tests. */
export function useApiWithLearner(): ApiWithLearner {
  let started: ApiWithLearner | undefined;
  beforeAll(async () => {
    const api = await startTestApi();
    started = { api, learner: await enrolledUser(api.database, createCoupler(api.database)) };
  });
  afterAll(() => started?.api.close());
  const get = () => {
    if (!started) throw new Error("useApiWithLearner: read inside a test, after beforeAll");
    return started;
  };
  return {
    get api() {
      return get().api;
    },
    get learner() {
      return get().learner;
    },
  };
}
