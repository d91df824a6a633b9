import { createHmac } from "node:crypto";

/**
 * A JWT as an attacker might build it: any header, any claims, any HMAC
 * algorithm (or none), any key. Built by hand rather than with jose, which
 * refuses to sign most of what the probes need to send.
 */
export interface JwtSpec {
  /** Default HS256. "none" leaves the signature empty. */
  alg?: "HS256" | "HS384" | "HS512" | "none";
  /** Merged over `{ alg, typ: "JWT" }`. */
  header?: Record<string, unknown>;
  claims: Record<string, unknown>;
  secret: string;
}

export function forgeJwt(spec: JwtSpec): string {
  const alg = spec.alg ?? "HS256";
  const signingInput = `${base64url({ alg, typ: "JWT", ...spec.header })}.${base64url(spec.claims)}`;
  if (alg === "none") return `${signingInput}.`;
  const signature = createHmac(`sha${alg.slice(2)}`, spec.secret)
    .update(signingInput)
    .digest("base64url");
  return `${signingInput}.${signature}`;
}

/** Seconds since the epoch, as `iat` and `exp` count. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * Claims for `sub` with `role`, issued now (shifted by `iatOffset` seconds)
 * and valid for `lifetime` seconds; `null` leaves a claim out.
 */
export function claims(
  sub: number | string,
  role: string,
  options: { iatOffset?: number; lifetime?: number | null; iat?: null } = {},
): Record<string, unknown> {
  const iat = nowSeconds() + (options.iatOffset ?? 0);
  const lifetime = options.lifetime === undefined ? 3600 : options.lifetime;
  return {
    sub: typeof sub === "number" ? String(sub) : sub,
    role,
    ...(options.iat === null ? {} : { iat }),
    ...(lifetime === null ? {} : { exp: iat + lifetime }),
  };
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}
