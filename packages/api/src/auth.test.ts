import { SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { actorOf, authenticate, createAuthenticator, secretKey, signToken } from "./auth.ts";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256";
const key = secretKey(SECRET);

describe("authenticate", () => {
  it("accepts a token minted by signToken and reads sub and role", async () => {
    const token = await signToken({ sub: 42, role: "instructor" }, SECRET);
    expect(await authenticate(`Bearer ${token}`, key)).toEqual({
      ok: true,
      principal: { userId: 42, role: "instructor" },
    });
  });

  it("accepts a numeric sub claim", async () => {
    const token = await new SignJWT({ sub: 5 as unknown as string, role: "student" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime("1m")
      .sign(key);
    expect(await authenticate(`Bearer ${token}`, key)).toMatchObject({ ok: true, principal: { userId: 5 } });
  });

  it("refuses a missing header, a non-Bearer scheme, an expired token, a wrong secret and a non-numeric sub", async () => {
    expect(await authenticate(undefined, key)).toMatchObject({ ok: false });
    expect(await authenticate("Basic abc", key)).toMatchObject({ ok: false });
    expect(
      await authenticate(`Bearer ${await signToken({ sub: 1, role: "admin" }, SECRET, { expiresIn: -10 })}`, key),
    ).toEqual({ ok: false, reason: "token expired" });
    expect(await authenticate(`Bearer ${await signToken({ sub: 1, role: "admin" }, `${SECRET}x`)}`, key)).toEqual({
      ok: false,
      reason: "invalid token",
    });
    expect(await authenticate(`Bearer ${await signToken({ sub: "alice", role: "admin" }, SECRET)}`, key)).toMatchObject(
      { ok: false },
    );
  });

  it("refuses a token signed with alg none", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    const payload = Buffer.from(
      JSON.stringify({ sub: "1", role: "admin", exp: Math.floor(Date.now() / 1000) + 60 }),
    ).toString("base64url");
    expect(await authenticate(`Bearer ${header}.${payload}.`, key)).toMatchObject({ ok: false });
  });

  it("names the actor as role:sub", () => {
    expect(actorOf({ userId: 3, role: "admin" })).toBe("admin:3");
  });
});

/** A token with exactly these `iat` and `exp` (Unix seconds; omitted when undefined). */
function tokenWith(times: { iat?: number; exp?: number }): Promise<string> {
  const jwt = new SignJWT({ role: "admin" }).setProtectedHeader({ alg: "HS256" }).setSubject("1");
  if (times.iat !== undefined) jwt.setIssuedAt(times.iat);
  if (times.exp !== undefined) jwt.setExpirationTime(times.exp);
  return jwt.sign(key);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe("token lifetime and clock tolerance", () => {
  it("refuses a 100-year token: its lifetime exceeds the 24h maximum", async () => {
    const token = await signToken({ sub: 1, role: "admin" }, SECRET, { expiresIn: "100y" });
    expect(await authenticate(`Bearer ${token}`, key)).toEqual({
      ok: false,
      reason: "token lifetime exceeds the 24h maximum",
    });
  });

  it("accepts a token of exactly 24 h, and honours a configured maximum", async () => {
    const day = await tokenWith({ iat: nowSeconds(), exp: nowSeconds() + 86_400 });
    expect(await authenticate(`Bearer ${day}`, key)).toMatchObject({ ok: true });
    expect(await authenticate(`Bearer ${day}`, key, { maxTokenLifetimeSeconds: 3600 })).toEqual({
      ok: false,
      reason: "token lifetime exceeds the 1h maximum",
    });
    const week = await signToken({ sub: 1, role: "admin" }, SECRET, { expiresIn: "7d" });
    expect(await authenticate(`Bearer ${week}`, key, { maxTokenLifetimeSeconds: 7 * 86_400 })).toMatchObject({
      ok: true,
    });
  });

  it("refuses a token issued in the future beyond the tolerance, but forgives a few seconds of skew", async () => {
    const future = await tokenWith({ iat: nowSeconds() + 60, exp: nowSeconds() + 600 });
    expect(await authenticate(`Bearer ${future}`, key)).toEqual({
      ok: false,
      reason: "token issued in the future (iat is after the server's clock)",
    });
    const skewed = await tokenWith({ iat: nowSeconds() + 3, exp: nowSeconds() + 600 });
    expect(await authenticate(`Bearer ${skewed}`, key)).toMatchObject({ ok: true });
  });

  it("accepts a token that expired 3 s ago (within the clock tolerance)", async () => {
    const token = await tokenWith({ iat: nowSeconds() - 600, exp: nowSeconds() - 3 });
    expect(await authenticate(`Bearer ${token}`, key)).toMatchObject({ ok: true });
  });

  it("refuses a token that expired 10 s ago", async () => {
    const token = await tokenWith({ iat: nowSeconds() - 600, exp: nowSeconds() - 10 });
    expect(await authenticate(`Bearer ${token}`, key)).toEqual({ ok: false, reason: "token expired" });
  });

  it("refuses a token without iat, and one without exp", async () => {
    expect(await authenticate(`Bearer ${await tokenWith({ exp: nowSeconds() + 60 })}`, key)).toEqual({
      ok: false,
      reason: "token claim iat is invalid or missing",
    });
    expect(await authenticate(`Bearer ${await tokenWith({ iat: nowSeconds() })}`, key)).toEqual({
      ok: false,
      reason: "token claim exp is invalid or missing",
    });
  });

  it("keeps the token CLI's default lifetime (1h) within the default maximum", async () => {
    const token = await signToken({ sub: 1, role: "admin" }, SECRET);
    expect(await authenticate(`Bearer ${token}`, key)).toMatchObject({ ok: true });
  });
});

describe("createAuthenticator", () => {
  afterEach(() => vi.useRealTimers());

  it("answers a repeated token from its cache, but refuses it once exp has passed", async () => {
    const check = createAuthenticator(key);
    const header = `Bearer ${await signToken({ sub: 9, role: "admin" }, SECRET, { expiresIn: 60 })}`;
    expect(await check(header)).toEqual({ ok: true, principal: { userId: 9, role: "admin" } });
    expect(await check(header)).toEqual({ ok: true, principal: { userId: 9, role: "admin" } });
    vi.useFakeTimers({ toFake: ["Date"] });
    // exp, plus the 5 s clock tolerance, has passed.
    vi.setSystemTime(Date.now() + 66_000);
    expect(await check(header)).toEqual({ ok: false, reason: "token expired" });
  });

  it("does not cache refusals: a token with one altered character is verified and refused every time", async () => {
    const check = createAuthenticator(key);
    const token = await signToken({ sub: 9, role: "student" }, SECRET);
    const forged = `${token.slice(0, -2)}${token.at(-2) === "A" ? "B" : "A"}${token.at(-1)}`;
    expect(await check(`Bearer ${token}`)).toMatchObject({ ok: true });
    expect(await check(`Bearer ${forged}`)).toMatchObject({ ok: false });
    expect(await check(`Bearer ${forged}`)).toMatchObject({ ok: false });
  });

  it("never caches a refused long-lived token: it is refused on every call, also with a laxer authenticator alongside", async () => {
    const check = createAuthenticator(key);
    const header = `Bearer ${await signToken({ sub: 9, role: "admin" }, SECRET, { expiresIn: "100y" })}`;
    const refusal = { ok: false, reason: "token lifetime exceeds the 24h maximum" };
    expect(await check(header)).toEqual(refusal);
    expect(await check(header)).toEqual(refusal);
    expect(await createAuthenticator(key, { maxTokenLifetimeSeconds: 200 * 365 * 86_400 })(header)).toMatchObject({
      ok: true,
    });
    expect(await check(header)).toEqual(refusal);
  });
});
