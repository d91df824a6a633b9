import { SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { actorOf, authenticate, createAuthenticator, secretKey, signToken } from "./auth.ts";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256";
const key = secretKey(SECRET);

describe("authenticate", () => {
  it("accepts a token minted by signToken and reads sub and role", async () => {
    const token = await signToken({ sub: 42, role: "instructor" }, SECRET);
    expect(await authenticate(`Bearer ${token}`, key)).toEqual({ ok: true, principal: { userId: 42, role: "instructor" } });
  });

  it("accepts a numeric sub claim", async () => {
    const token = await new SignJWT({ sub: 5 as unknown as string, role: "student" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1m").sign(key);
    expect(await authenticate(`Bearer ${token}`, key)).toMatchObject({ ok: true, principal: { userId: 5 } });
  });

  it("refuses a missing header, a non-Bearer scheme, an expired token, a wrong secret and a non-numeric sub", async () => {
    expect(await authenticate(undefined, key)).toMatchObject({ ok: false });
    expect(await authenticate("Basic abc", key)).toMatchObject({ ok: false });
    expect(await authenticate(`Bearer ${await signToken({ sub: 1, role: "admin" }, SECRET, { expiresIn: -10 })}`, key)).toEqual({ ok: false, reason: "token expired" });
    expect(await authenticate(`Bearer ${await signToken({ sub: 1, role: "admin" }, `${SECRET}x`)}`, key)).toEqual({ ok: false, reason: "invalid token" });
    expect(await authenticate(`Bearer ${await signToken({ sub: "alice", role: "admin" }, SECRET)}`, key)).toMatchObject({ ok: false });
  });

  it("refuses a token signed with alg none", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");
    const payload = Buffer.from(JSON.stringify({ sub: "1", role: "admin", exp: Math.floor(Date.now() / 1000) + 60 })).toString("base64url");
    expect(await authenticate(`Bearer ${header}.${payload}.`, key)).toMatchObject({ ok: false });
  });

  it("names the actor as role:sub", () => {
    expect(actorOf({ userId: 3, role: "admin" })).toBe("admin:3");
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
    vi.setSystemTime(Date.now() + 61_000);
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
});
