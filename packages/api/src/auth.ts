import { SignJWT, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from "jose";
import { z } from "zod";
import { inputs } from "@coupler/core";
import { KeySetUnavailableError, PROVIDER_ALGORITHMS, type IdentityProvider } from "./identityProvider.ts";
import { ROLES, type Role } from "./roles.ts";

export { ROLES, type Role };

/** Who made a request, from a verified token. */
export interface Principal {
  /** The user id in `sub`. */
  userId: number;
  role: Role;
}

/**
 * The outcome of reading a request's Authorization header. `unavailable`:
 * the token could not be judged because the identity provider's key set
 * could not be fetched (the API answers 503, not 401).
 */
export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: string; unavailable?: true };

const claims = z.object({
  // A user id, sent as a string (RFC 7519) or, leniently, as a number.
  sub: z
    .union([
      z
        .string()
        .regex(/^[1-9][0-9]{0,9}$/)
        .transform(Number),
      z.number(),
    ])
    .pipe(inputs.userId),
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

/** How much lifetime a token may claim, and how much clock skew to forgive. */
export interface VerifyOptions {
  /**
   * The longest `exp − iat` accepted, in seconds (default 24 h). A leaked
   * token is only as dangerous as it is long-lived, so a token must say when
   * it was issued and may not outlive this; `AUTH_MAX_TOKEN_LIFETIME`.
   */
  maxTokenLifetimeSeconds?: number;
  /**
   * An external identity provider (AUTH_JWKS_URL): tokens signed with
   * RS256, ES256 or EdDSA are verified against its key set, with its issuer,
   * audience and claim mapping; HS256 tokens still go to the shared secret.
   */
  identityProvider?: IdentityProvider | undefined;
}

export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/** Skew forgiven between the signer's clock and ours, for `exp` and `iat`. */
export const CLOCK_TOLERANCE_SECONDS = 5;

/**
 * Verifies `Authorization: Bearer <jwt>`. Never throws: a missing, malformed,
 * badly signed, expired, too long-lived or future-issued token is
 * `{ ok: false }` with a reason safe to show.
 */
export async function authenticate(
  header: string | undefined,
  key: Uint8Array,
  options: VerifyOptions = {},
): Promise<AuthResult> {
  if (!header) return { ok: false, reason: "missing Authorization header" };
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  const token = match?.[1];
  if (!token) return { ok: false, reason: "Authorization header must be 'Bearer <token>'" };
  const provider = options.identityProvider;
  let viaProvider = false;
  try {
    viaProvider = provider !== undefined && decodeProtectedHeader(token).alg !== ALGORITHM;
    const { payload } =
      viaProvider && provider
        ? await verifyWithProvider(token, provider)
        : await jwtVerify(token, key, {
            algorithms: [ALGORITHM],
            requiredClaims: ["exp", "iat", "sub"],
            clockTolerance: CLOCK_TOLERANCE_SECONDS,
          });
    const refused = lifetimeProblem(
      payload.iat,
      payload.exp,
      options.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
    );
    if (refused) return { ok: false, reason: refused };
    if (viaProvider && provider) {
      const mapped = provider.principal(payload);
      return "reason" in mapped ? { ok: false, reason: mapped.reason } : { ok: true, principal: mapped };
    }
    const parsed = claims.safeParse(payload);
    if (!parsed.success)
      return { ok: false, reason: "token claims must be sub (a user id) and role (student, instructor or admin)" };
    return { ok: true, principal: { userId: parsed.data.sub, role: parsed.data.role } };
  } catch (error) {
    if (error instanceof KeySetUnavailableError) return { ok: false, reason: error.message, unavailable: true };
    if (error instanceof joseErrors.JWTExpired) return { ok: false, reason: "token expired" };
    if (error instanceof joseErrors.JWTClaimValidationFailed)
      return { ok: false, reason: `token claim ${error.claim} is invalid or missing` };
    if (viaProvider) return { ok: false, reason: providerRefusal(error) };
    return { ok: false, reason: "invalid token" };
  }
}

function verifyWithProvider(token: string, provider: IdentityProvider): Promise<{ payload: JWTPayload }> {
  return jwtVerify(token, provider.getKey, {
    algorithms: PROVIDER_ALGORITHMS,
    issuer: provider.settings.issuer,
    audience: provider.settings.audience,
    requiredClaims: ["exp", "iat"],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
  });
}

/** Why a token meant for the identity provider was refused, safe to show. */
function providerRefusal(error: unknown): string {
  if (error instanceof joseErrors.JWKSNoMatchingKey)
    return "no key of the identity provider's key set matches the token's kid and alg";
  if (error instanceof joseErrors.JOSEAlgNotAllowed)
    return `token alg is not accepted (HS256 with AUTH_SECRET, or ${PROVIDER_ALGORITHMS.join(", ")} from AUTH_JWKS_URL)`;
  return "invalid token";
}

/**
 * Why a verified token's `iat`/`exp` are refused, or undefined. jose has
 * already checked both are numbers and that `exp` has not passed; it checks
 * a future `iat` only when given a maximum age, which is not what we bound.
 */
function lifetimeProblem(iat: number | undefined, exp: number | undefined, maxSeconds: number): string | undefined {
  if (iat === undefined || exp === undefined) return "token must carry iat and exp";
  if (iat > Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS)
    return "token issued in the future (iat is after the server's clock)";
  if (exp - iat > maxSeconds) return `token lifetime exceeds the ${formatSeconds(maxSeconds)} maximum`;
  return undefined;
}

/** 86400 → "24h", 90 → "90s": the form the operator most likely configured. */
export function formatSeconds(seconds: number): string {
  return seconds % 3600 === 0 ? `${seconds / 3600}h` : `${seconds}s`;
}

/** How a principal is named in the history and the audit log. */
export function actorOf(principal: Principal): string {
  return `${principal.role}:${principal.userId}`;
}

const CACHE_LIMIT = 10_000;
/** jose's default cacheMaxAge for a remote key set (10 min). */
const DEFAULT_KEY_SET_MAX_AGE_MS = 600_000;

/**
 * `authenticate` with a cache of verified tokens. Services send the same
 * token on every call, and HMAC verification through WebCrypto costs about a
 * quarter of a millisecond on a busy machine; a cached token is still refused
 * once its `exp` (plus the clock tolerance jose allowed) has passed. Only
 * successes are cached, keyed by the exact token text, so a forged, altered,
 * too long-lived or future-issued token always goes through the full check.
 * A token of the identity provider is checked in full again once the key set
 * it was verified against is due for a refresh (`cacheMaxAgeMs`), so a key the
 * provider withdraws stops its tokens here within that time too.
 */
export function createAuthenticator(
  key: Uint8Array,
  options: VerifyOptions = {},
): (header: string | undefined) => Promise<AuthResult> {
  const verified = new Map<string, { principal: Principal; expiresAt: number; recheckAt: number }>();
  const provider = options.identityProvider;
  const recheckAfter = provider?.settings.cacheMaxAgeMs ?? DEFAULT_KEY_SET_MAX_AGE_MS;
  return async (header) => {
    const hit = header === undefined ? undefined : verified.get(header);
    if (hit) {
      const now = Date.now();
      if (now < hit.expiresAt && now < hit.recheckAt) return { ok: true, principal: hit.principal };
      verified.delete(header as string);
      if (now >= hit.expiresAt) return { ok: false, reason: "token expired" };
    }
    const result = await authenticate(header, key, options);
    if (result.ok && header !== undefined) {
      if (verified.size >= CACHE_LIMIT) verified.clear();
      const fromProvider =
        provider !== undefined && decodeProtectedHeader(header.replace(/^Bearer\s+/i, "")).alg !== ALGORITHM;
      verified.set(header, {
        principal: result.principal,
        expiresAt: expiryOf(header),
        recheckAt: fromProvider ? Date.now() + recheckAfter : Number.POSITIVE_INFINITY,
      });
    }
    return result;
  };
}

/**
 * When a token jose has just verified (so `exp` is present and numeric) stops
 * being accepted, in ms: its `exp` plus the tolerance, as jose judges it.
 */
function expiryOf(header: string): number {
  const payload = header.split(".")[1] ?? "";
  const { exp } = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { exp: number };
  return (exp + CLOCK_TOLERANCE_SECONDS) * 1000;
}
