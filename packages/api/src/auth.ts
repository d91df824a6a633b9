import { SignJWT, errors as joseErrors, jwtVerify } from "jose";
import { z } from "zod";
import { inputs } from "@coupler/core";

export const ROLES = ["student", "instructor", "admin"] as const;
export type Role = (typeof ROLES)[number];

/** Who made a request, from a verified token. */
export interface Principal {
  /** The user id in `sub`. */
  userId: number;
  role: Role;
}

/** The outcome of reading a request's Authorization header. */
export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: string };

const claims = z.object({
  // A user id, sent as a string (RFC 7519) or, leniently, as a number.
  sub: z.union([z.string().regex(/^[1-9][0-9]{0,9}$/).transform(Number), z.number()]).pipe(inputs.userId),
  role: z.enum(ROLES),
});

const ALGORITHM = "HS256";
const encoder = new TextEncoder();

export function secretKey(secret: string): Uint8Array {
  return encoder.encode(secret);
}

/** Mints an HS256 token for `sub` with `role`, expiring after `expiresIn` (a jose time span like "1h", or seconds). */
export async function signToken(
  principal: { sub: number | string; role: Role },
  secret: string | Uint8Array,
  options: { expiresIn?: string | number } = {},
): Promise<string> {
  const key = typeof secret === "string" ? secretKey(secret) : secret;
  const expiresIn = options.expiresIn ?? "1h";
  return new SignJWT({ role: principal.role })
    .setProtectedHeader({ alg: ALGORITHM, typ: "JWT" })
    .setSubject(String(principal.sub))
    .setIssuedAt()
    .setExpirationTime(typeof expiresIn === "number" ? Math.floor(Date.now() / 1000) + expiresIn : expiresIn)
    .sign(key);
}

/**
 * Verifies `Authorization: Bearer <jwt>`. Never throws: a missing, malformed,
 * badly signed or expired token is `{ ok: false }` with a reason safe to show.
 */
export async function authenticate(header: string | undefined, key: Uint8Array): Promise<AuthResult> {
  if (!header) return { ok: false, reason: "missing Authorization header" };
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  const token = match?.[1];
  if (!token) return { ok: false, reason: "Authorization header must be 'Bearer <token>'" };
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: [ALGORITHM], requiredClaims: ["exp", "sub"] });
    const parsed = claims.safeParse(payload);
    if (!parsed.success) return { ok: false, reason: "token claims must be sub (a user id) and role (student, instructor or admin)" };
    return { ok: true, principal: { userId: parsed.data.sub, role: parsed.data.role } };
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: "token expired" };
    if (error instanceof joseErrors.JWTClaimValidationFailed) return { ok: false, reason: `token claim ${error.claim} is invalid or missing` };
    return { ok: false, reason: "invalid token" };
  }
}

/** How a principal is named in the history and the audit log. */
export function actorOf(principal: Principal): string {
  return `${principal.role}:${principal.userId}`;
}

const CACHE_LIMIT = 10_000;

/**
 * `authenticate` with a cache of verified tokens. Services send the same
 * token on every call, and HMAC verification through WebCrypto costs about a
 * quarter of a millisecond on a busy machine; a cached token is still refused
 * once its `exp` has passed. Only successes are cached, keyed by the exact
 * token text, so a forged or altered token always goes through jose.
 */
export function createAuthenticator(key: Uint8Array): (header: string | undefined) => Promise<AuthResult> {
  const verified = new Map<string, { principal: Principal; expiresAt: number }>();
  return async (header) => {
    const hit = header === undefined ? undefined : verified.get(header);
    if (hit) {
      if (Date.now() < hit.expiresAt) return { ok: true, principal: hit.principal };
      verified.delete(header as string);
      return { ok: false, reason: "token expired" };
    }
    const result = await authenticate(header, key);
    if (result.ok && header !== undefined) {
      if (verified.size >= CACHE_LIMIT) verified.clear();
      verified.set(header, { principal: result.principal, expiresAt: expiryOf(header) });
    }
    return result;
  };
}

/** `exp` of a token jose has just verified (so it is present and numeric), in ms. */
function expiryOf(header: string): number {
  const payload = header.split(".")[1] ?? "";
  const { exp } = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp: number };
  return exp * 1000;
}
