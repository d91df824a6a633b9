import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IdentityProviderSettings } from "../src/identityProvider.ts";
import { startTestApi, type TestApi } from "./harness.ts";

/*
 * Issue 23: tokens from an identity provider (RS256, ES256, EdDSA) verified
 * against its JWKS, served here by a real HTTP endpoint on 127.0.0.1.
 */
const ISSUER = "https://idp.test/realms/coupler";
const AUDIENCE = "coupler-api";
const ROLE_MAP = {
  "coupler-admin": "admin",
  "coupler-instructor": "instructor",
  "coupler-student": "student",
} as const;
/** Short, so a withdrawn key's tokens are re-checked within the test. */
const CACHE_MAX_AGE_MS = 400;

interface SigningKey {
  kid: string;
  alg: "RS256" | "ES256" | "EdDSA";
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string, alg: SigningKey["alg"]): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** The identity provider's JWKS endpoint: publishes `published`, counts fetches. */
class JwksEndpoint {
  published: SigningKey[] = [];
  fetches = 0;
  readonly #server: Server = createServer((_req, res) => {
    this.fetches++;
    res.writeHead(200, { "content-type": "application/jwk-set+json" });
    res.end(JSON.stringify({ keys: this.published.map((k) => k.jwk) }));
  });

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/certs`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function token(
  key: SigningKey,
  claims: { sub?: string; roles?: string[]; iss?: string; aud?: string; iat?: number; exp?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ realm_access: { roles: claims.roles ?? ["offline_access", "coupler-instructor"] } })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT" })
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setSubject(claims.sub ?? "2")
    .setIssuedAt(claims.iat ?? now)
    .setExpirationTime(claims.exp ?? now + 600)
    .sign(key.privateKey);
}

function settings(jwksUrl: string): IdentityProviderSettings {
  return {
    jwksUrl,
    issuer: ISSUER,
    audience: AUDIENCE,
    roleClaim: "realm_access.roles",
    subjectClaim: "sub",
    roleMap: ROLE_MAP,
    timeoutMs: 1000,
    cacheMaxAgeMs: CACHE_MAX_AGE_MS,
    cooldownMs: 0,
  };
}

interface Answer {
  status: number;
  message: string;
  data: { couplerCode?: string; retryable?: boolean };
}

/** GET /api/catalogue (any signed-in caller) with `jwt`. */
async function call(api: TestApi, jwt: string): Promise<Answer> {
  const res = await fetch(`${api.url}/api/catalogue`, { headers: { authorization: `Bearer ${jwt}` } });
  const body = (await res.json()) as { message?: string; data?: Answer["data"] };
  return { status: res.status, message: body.message ?? "", data: body.data ?? {} };
}

/** The same call on /trpc. */
async function callTrpc(api: TestApi, jwt: string): Promise<Answer> {
  const res = await fetch(`${api.url}/trpc/catalogue`, { headers: { authorization: `Bearer ${jwt}` } });
  const body = (await res.json()) as { error?: { message: string; data: Answer["data"] } };
  return { status: res.status, message: body.error?.message ?? "", data: body.error?.data ?? {} };
}

function expectRefused(answer: Answer, message: string | RegExp): void {
  expect(answer).toMatchObject({ status: 401, data: { couplerCode: "UNAUTHENTICATED", retryable: false } });
  expect(answer.message).toMatch(message);
}

const endpoint = new JwksEndpoint();
let api: TestApi;
let rsa: SigningKey;

beforeAll(async () => {
  rsa = await signingKey("rsa-1", "RS256");
  endpoint.published = [rsa, await signingKey("ec-1", "ES256"), await signingKey("ed-1", "EdDSA")];
  api = await startTestApi({ identityProvider: settings(await endpoint.listen()) });
});
afterAll(async () => {
  await api?.close();
  await endpoint.close();
});

describe("tokens from an identity provider's JWKS", () => {
  it("accepts RS256, ES256 and EdDSA tokens, mapping realm_access.roles and sub to the API's role and user", async () => {
    for (const key of endpoint.published) {
      expect(await call(api, await token(key)), key.alg).toMatchObject({ status: 200 });
    }
    // The mapped role decides: a provider student may not award XP.
    const student = await token(rsa, { roles: ["coupler-student"] });
    const res = await fetch(`${api.url}/api/progression/levelUp`, {
      method: "POST",
      headers: { authorization: `Bearer ${student}`, "content-type": "application/json" },
      body: JSON.stringify({ userId: 2, specialization: "PLAYER", xpGained: 1, sessionsCompleted: 0 }),
    });
    expect(res.status).toBe(403);
  });

  it("still accepts the API's own HS256 tokens signed with AUTH_SECRET", async () => {
    expect(await call(api, await api.token("student", 3))).toMatchObject({ status: 200 });
  });

  it("follows a key rotation: a new kid is fetched and accepted, and the withdrawn key's tokens are refused once the cached set expires", async () => {
    const old = await token(rsa);
    expect((await call(api, old)).status).toBe(200);
    const next = await signingKey("rsa-2", "RS256");
    endpoint.published = [next, ...endpoint.published.filter((k) => k !== rsa)];
    const fetchesBefore = endpoint.fetches;
    expect(await call(api, await token(next))).toMatchObject({ status: 200 });
    expect(endpoint.fetches).toBeGreaterThan(fetchesBefore); // the unknown kid made jose fetch the set again
    await new Promise((resolve) => setTimeout(resolve, CACHE_MAX_AGE_MS + 100));
    expectRefused(await call(api, old), /no key of the identity provider's key set matches/);
    expectRefused(await callTrpc(api, await token(rsa)), /no key of the identity provider's key set matches/);
    endpoint.published = [rsa, ...endpoint.published]; // back for the other tests
  });

  it("refuses a token whose kid the provider never published (401 UNAUTHENTICATED)", async () => {
    const stranger = await signingKey("unknown-kid", "RS256");
    expectRefused(await call(api, await token(stranger)), /matches the token's kid/);
  });

  it("refuses an expired token (401)", async () => {
    const now = Math.floor(Date.now() / 1000);
    expectRefused(await call(api, await token(rsa, { iat: now - 3600, exp: now - 600 })), "token expired");
  });

  it("refuses another issuer or another audience (401)", async () => {
    expectRefused(await call(api, await token(rsa, { iss: "https://evil.test" })), "token claim iss");
    expectRefused(await call(api, await token(rsa, { aud: "someone-else" })), "token claim aud");
  });

  it("refuses a token whose roles map to none of the API's, or whose subject is not a user id (401)", async () => {
    expectRefused(
      await call(api, await token(rsa, { roles: ["offline_access"] })),
      /realm_access\.roles must name a role/,
    );
    expectRefused(await call(api, await token(rsa, { sub: "f81d4fae-7dec" })), /sub must hold the learner's user id/);
  });

  it("refuses alg confusion: an HS256 token signed with the provider's RSA public key as the secret (401)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { realm_access: { roles: ["coupler-admin"] }, role: "admin" };
    for (const secret of [await exportSPKI(rsa.publicKey), JSON.stringify(rsa.jwk)]) {
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: "HS256", kid: rsa.kid })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject("1")
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .sign(new TextEncoder().encode(secret));
      expectRefused(await call(api, forged), "invalid token");
    }
  });
});

describe("an identity provider that cannot be reached", () => {
  it("answers 503 UNAVAILABLE (retryable) with a clear message, not 401 or 500, and HS256 tokens still work", async () => {
    const gone = new JwksEndpoint();
    const url = await gone.listen();
    await gone.close(); // nothing listens there now: connection refused
    await using down = await startTestApi({ database: api.database, identityProvider: settings(url) });
    const jwt = await token(rsa);
    for (const answer of [await call(down, jwt), await callTrpc(down, jwt)]) {
      expect(answer).toMatchObject({ status: 503, data: { couplerCode: "UNAVAILABLE", retryable: true } });
      expect(answer.message).toMatch(
        /identity provider's key set \(AUTH_JWKS_URL\) cannot be fetched: connection failed/,
      );
    }
    expect((await call(down, await down.token("admin", 1))).status).toBe(200);
  });
});
