import { createRemoteJWKSet, errors as joseErrors, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { inputs } from "@coupler/core";
import { ROLES, type Role } from "./roles.ts";

/**
 * An external identity provider (Keycloak, Auth0, Cognito, Entra…) whose
 * RS256, ES256 or EdDSA tokens the API accepts besides its own HS256 ones
 * (AUTH_JWKS_URL and the AUTH_* variables next to it in config.ts).
 */
export interface IdentityProviderSettings {
  /** Where the provider publishes its JSON Web Key Set (https, or http on a trusted network). */
  jwksUrl: string;
  /** Required `iss`. */
  issuer: string;
  /** Required `aud` (one of the token's audiences). */
  audience: string;
  /** Dotted path to the claim holding the role: `role`, `realm_access.roles` (Keycloak), `https://example.com/roles`… A string or an array of strings. */
  roleClaim: string;
  /** Dotted path to the claim holding the learner's numeric user id (`sub` when the provider's subject is that id). */
  subjectClaim: string;
  /** The provider's role names mapped to the API's roles; unset, the claim must hold student, instructor or admin itself. */
  roleMap: Readonly<Record<string, Role>> | undefined;
  /** Longest wait for the key set, in ms (jose's timeoutDuration); a slower provider is answered 503. */
  timeoutMs: number;
  /** How long a fetched key set is used before it is fetched again, in ms (jose's cacheMaxAge; default 10 min). */
  cacheMaxAgeMs?: number;
  /** Least time between two fetches caused by an unknown `kid`, in ms (jose's cooldownDuration; default 30 s). */
  cooldownMs?: number;
}

/** The asymmetric algorithms a provider's tokens may use; HS256 stays with AUTH_SECRET, so an HMAC token is never checked against a public key. */
export const PROVIDER_ALGORITHMS = ["RS256", "ES256", "EdDSA"];

/** The key set could not be fetched (down, slow, not a key set): the token is neither good nor bad, the API answers 503. */
export class KeySetUnavailableError extends Error {
  override name = "KeySetUnavailableError";
}

/** A provider as `authenticate` uses it: a key lookup over the remote key set, and the claim mapping. */
export interface IdentityProvider {
  settings: IdentityProviderSettings;
  /** jose's remote key set; a fetch failure becomes KeySetUnavailableError, an unknown `kid` stays JWKSNoMatchingKey. */
  getKey: JWTVerifyGetKey;
  /** The user id and role a verified payload maps to, or why it does not. */
  principal(payload: JWTPayload): { userId: number; role: Role } | { reason: string };
}

/** Builds the provider's key lookup; jose caches the key set and fetches it again on an unknown `kid` (after the cooldown). */
export function createIdentityProvider(settings: IdentityProviderSettings): IdentityProvider {
  const keySet = createRemoteJWKSet(new URL(settings.jwksUrl), {
    timeoutDuration: settings.timeoutMs,
    ...(settings.cacheMaxAgeMs === undefined ? {} : { cacheMaxAge: settings.cacheMaxAgeMs }),
    ...(settings.cooldownMs === undefined ? {} : { cooldownDuration: settings.cooldownMs }),
  });
  const getKey: JWTVerifyGetKey = async (header, token) => {
    try {
      return await keySet(header, token);
    } catch (error) {
      // A verdict on the token (no key with its kid, a key of the wrong type) is a 401; anything else is the fetch.
      if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
        throw error;
      }
      if (error instanceof joseErrors.JOSENotSupported || error instanceof joseErrors.JOSEAlgNotAllowed) throw error;
      const why =
        error instanceof joseErrors.JWKSTimeout ? `no answer within ${settings.timeoutMs} ms` : describe(error);
      throw new KeySetUnavailableError(
        `the identity provider's key set (AUTH_JWKS_URL) cannot be fetched: ${why}; retry shortly`,
        { cause: error },
      );
    }
  };
  return { settings, getKey, principal: (payload) => mapClaims(payload, settings) };
}

function describe(error: unknown): string {
  if (error instanceof joseErrors.JWKSInvalid) return "the response is not a JSON Web Key Set";
  if (error instanceof joseErrors.JOSEError) return error.message;
  // fetch's TypeError ("fetch failed") hides the reason (ECONNREFUSED…) in its cause.
  const cause = error instanceof Error ? (error.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === "string" ? `connection failed (${cause.code})` : "connection failed";
}

const userId = inputs.userId;

function mapClaims(
  payload: JWTPayload,
  settings: IdentityProviderSettings,
): { userId: number; role: Role } | { reason: string } {
  const subject = claimAt(payload, settings.subjectClaim);
  const id = typeof subject === "string" && /^[1-9][0-9]{0,9}$/.test(subject) ? Number(subject) : subject;
  const parsedId = userId.safeParse(id);
  if (!parsedId.success) {
    return { reason: `token claim ${settings.subjectClaim} must hold the learner's user id (a positive integer)` };
  }
  const role = roleOf(claimAt(payload, settings.roleClaim), settings.roleMap);
  if (!role) {
    const names = settings.roleMap ? Object.keys(settings.roleMap).join(", ") : ROLES.join(", ");
    return { reason: `token claim ${settings.roleClaim} must name a role (one of ${names})` };
  }
  return { userId: parsedId.data, role };
}

/** The value at a dotted path (`realm_access.roles`); a key that itself holds dots (`https://example.com/roles`) is tried whole first. */
export function claimAt(payload: JWTPayload, path: string): unknown {
  if (Object.hasOwn(payload, path)) return payload[path];
  let value: unknown = payload;
  for (const key of path.split(".")) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** The strongest API role among the claim's values (a string or an array of strings), after the map. */
function roleOf(claim: unknown, roleMap: IdentityProviderSettings["roleMap"]): Role | undefined {
  const values = typeof claim === "string" ? [claim] : Array.isArray(claim) ? claim : [];
  let best = -1;
  for (const value of values) {
    if (typeof value !== "string") continue;
    const role = roleMap ? (Object.hasOwn(roleMap, value) ? roleMap[value] : undefined) : value;
    const rank = ROLES.indexOf(role as Role);
    if (rank > best) best = rank;
  }
  return ROLES[best];
}

/** Parses AUTH_ROLE_MAP, `provider-name=role,other=role`; throws a one-line message on a bad entry. */
export function parseRoleMap(text: string): Record<string, Role> {
  const map: Record<string, Role> = {};
  for (const entry of text.split(",")) {
    const [name, role, extra] = entry.split("=").map((s) => s.trim());
    if (!name || extra !== undefined || !ROLES.includes(role as Role)) {
      throw new Error(`"${entry.trim()}" is not name=${ROLES.join("|")}`);
    }
    map[name] = role as Role;
  }
  return map;
}
