import { readPair, statusProbe } from "./statusProbe.ts";
import { claims, nowSeconds } from "./tokens.ts";
import type { HttpRequest } from "./http.ts";
import type { Probe, ProbeTarget } from "./types.ts";

const OK = "200";
const UNAUTHORIZED = "401 UNAUTHORIZED (UNAUTHENTICATED)";

/** Every token probe reads the first student's pair, which an admin may: only the token decides the answer. */
function tokenProbe(
  id: string,
  category: "token forgery" | "token lifetime",
  sends: string,
  expect: string,
  request: (t: ProbeTarget) => HttpRequest,
): Probe {
  return statusProbe({ id, category, sends, expect, request });
}
const adminRead = (t: ProbeTarget, token: string, extra: Partial<HttpRequest> = {}) =>
  readPair(t.users.student, token, extra);
const admin = (t: ProbeTarget, options: Parameters<typeof claims>[2] = {}) => claims(t.users.admin, "admin", options);
const withHeader = (t: ProbeTarget, authorization: string) =>
  readPair(t.users.student, undefined, { headers: { authorization } });

/** A valid token with one character of its signature (or payload) changed. */
function garble(token: string, part: 1 | 2): string {
  const pieces = token.split(".");
  const piece = pieces[part] ?? "";
  const middle = Math.floor(piece.length / 2);
  pieces[part] = piece.slice(0, middle) + (piece[middle] === "A" ? "B" : "A") + piece.slice(middle + 1);
  return pieces.join(".");
}

export const tokenForgeryProbes: Probe[] = [
  tokenProbe("forge-control", "token forgery", "a valid admin token (control)", OK, (t) =>
    adminRead(t, t.token("admin", t.users.admin)),
  ),
  tokenProbe("forge-wrong-secret", "token forgery", "admin claims signed with another secret", UNAUTHORIZED, (t) =>
    adminRead(t, t.forge({ claims: admin(t), secret: "x".repeat(64) })),
  ),
  tokenProbe("forge-alg-none", "token forgery", 'alg "none", empty signature', UNAUTHORIZED, (t) =>
    adminRead(t, t.forge({ alg: "none", claims: admin(t), secret: "" })),
  ),
  tokenProbe(
    "forge-alg-hs512",
    "token forgery",
    "alg HS512 signed with the right secret (the API pins HS256)",
    UNAUTHORIZED,
    (t) => adminRead(t, t.forge({ alg: "HS512", claims: admin(t), secret: t.authSecret })),
  ),
  tokenProbe("forge-truncated", "token forgery", "a valid token with its last 10 characters cut", UNAUTHORIZED, (t) => {
    const token = t.token("admin", t.users.admin).slice(0, -10);
    t.sent(token);
    return adminRead(t, token);
  }),
  tokenProbe(
    "forge-garbled-signature",
    "token forgery",
    "a valid token with one signature character changed",
    UNAUTHORIZED,
    (t) => {
      const token = garble(t.token("admin", t.users.admin), 2);
      t.sent(token);
      return adminRead(t, token);
    },
  ),
  tokenProbe(
    "forge-role-swap",
    "token forgery",
    "a student token whose payload is re-encoded as admin, signature kept",
    UNAUTHORIZED,
    (t) => {
      const [header, , signature] = t.token("student", t.users.student).split(".");
      const token = `${header}.${Buffer.from(JSON.stringify(claims(t.users.student, "admin"))).toString("base64url")}.${signature}`;
      t.sent(token);
      return adminRead(t, token);
    },
  ),
  tokenProbe("forge-not-a-jwt", "token forgery", "Bearer followed by random text", UNAUTHORIZED, (t) =>
    adminRead(t, "not-a-jwt"),
  ),
  tokenProbe("forge-no-header", "token forgery", "no Authorization header", UNAUTHORIZED, (t) =>
    readPair(t.users.student, undefined),
  ),
  tokenProbe(
    "forge-missing-bearer",
    "token forgery",
    "Authorization: <token> without the Bearer scheme",
    UNAUTHORIZED,
    (t) => withHeader(t, t.token("admin", t.users.admin)),
  ),
  tokenProbe(
    "forge-basic-scheme",
    "token forgery",
    "Authorization: Basic with the admin's token as credentials",
    UNAUTHORIZED,
    (t) => withHeader(t, `Basic ${t.token("admin", t.users.admin)}`),
  ),
  tokenProbe(
    "forge-lowercase-bearer",
    "token forgery",
    "Authorization: bearer <valid token> (the scheme is case-insensitive, RFC 7235)",
    OK,
    (t) => withHeader(t, `bearer ${t.token("admin", t.users.admin)}`),
  ),
  tokenProbe(
    "forge-two-tokens",
    "token forgery",
    "Bearer <student token> <admin token> in one header",
    UNAUTHORIZED,
    (t) => withHeader(t, `Bearer ${t.token("student", t.users.student)} ${t.token("admin", t.users.admin)}`),
  ),
  tokenProbe("forge-query-token", "token forgery", "a valid token in ?access_token=, no header", UNAUTHORIZED, (t) => {
    const token = t.token("admin", t.users.admin);
    return {
      method: "GET",
      path: `/trpc/progression.get?access_token=${token}`,
      input: { userId: t.users.student, specialization: "PLAYER" },
    };
  }),
];

export const tokenLifetimeProbes: Probe[] = [
  tokenProbe("life-100-years", "token lifetime", "exp − iat = 100 years", UNAUTHORIZED, (t) =>
    adminRead(t, t.forge({ claims: admin(t, { lifetime: 100 * 365 * 86_400 }), secret: t.authSecret })),
  ),
  tokenProbe("life-25h", "token lifetime", "exp − iat = 25 h (limit 24 h)", UNAUTHORIZED, (t) =>
    adminRead(t, t.forge({ claims: admin(t, { lifetime: 25 * 3600 }), secret: t.authSecret })),
  ),
  tokenProbe("life-24h", "token lifetime", "exp − iat = exactly 24 h", OK, (t) =>
    adminRead(t, t.forge({ claims: admin(t, { lifetime: 24 * 3600 }), secret: t.authSecret })),
  ),
  tokenProbe("life-no-exp", "token lifetime", "no exp claim", UNAUTHORIZED, (t) =>
    adminRead(t, t.forge({ claims: admin(t, { lifetime: null }), secret: t.authSecret })),
  ),
  tokenProbe("life-no-iat", "token lifetime", "no iat claim (exp in 1 h)", UNAUTHORIZED, (t) =>
    adminRead(
      t,
      t.forge({
        claims: { ...admin(t, { iat: null, lifetime: null }), exp: nowSeconds() + 3600 },
        secret: t.authSecret,
      }),
    ),
  ),
  tokenProbe("life-iat-future-1h", "token lifetime", "iat 1 h in the future", UNAUTHORIZED, (t) =>
    adminRead(t, t.forge({ claims: admin(t, { iatOffset: 3600 }), secret: t.authSecret })),
  ),
  tokenProbe("life-iat-future-3s", "token lifetime", "iat 3 s in the future (within the 5 s tolerance)", OK, (t) =>
    adminRead(t, t.forge({ claims: admin(t, { iatOffset: 3 }), secret: t.authSecret })),
  ),
  tokenProbe("life-expired-3s", "token lifetime", "exp 3 s ago (within the 5 s tolerance)", OK, (t) =>
    adminRead(t, t.forge({ claims: admin(t, { iatOffset: -603, lifetime: 600 }), secret: t.authSecret })),
  ),
  tokenProbe("life-expired-1min", "token lifetime", "exp 1 min ago", UNAUTHORIZED, (t) =>
    adminRead(t, t.forge({ claims: admin(t, { iatOffset: -660, lifetime: 600 }), secret: t.authSecret })),
  ),
  tokenProbe("life-nbf-future", "token lifetime", "nbf 1 h in the future", UNAUTHORIZED, (t) =>
    adminRead(t, t.forge({ claims: { ...admin(t), nbf: nowSeconds() + 3600 }, secret: t.authSecret })),
  ),
  tokenProbe("life-exp-string", "token lifetime", 'exp as a string ("9999999999")', UNAUTHORIZED, (t) =>
    adminRead(t, t.forge({ claims: { ...admin(t), exp: "9999999999" }, secret: t.authSecret })),
  ),
];
