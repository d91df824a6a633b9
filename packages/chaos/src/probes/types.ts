import type { HttpRequest, HttpResponse } from "./http.ts";
import type { JwtSpec } from "./tokens.ts";

export const PROBE_CATEGORIES = [
  "token forgery",
  "token lifetime",
  "roles",
  "input",
  "bodies",
  "http",
  "slow clients",
  "metrics",
  "idempotency",
  "secrets",
] as const;
export type ProbeCategory = (typeof PROBE_CATEGORIES)[number];

/** What a probe saw, in words, and whether that is what it expected. */
export interface Outcome {
  actual: string;
  pass: boolean;
}

/** One cheap attack or misuse, sent to the running API, with the answer it should get. */
export interface Probe {
  id: string;
  category: ProbeCategory;
  /** What is sent, in a phrase. */
  sends: string;
  /** The expected answer, in the same words as `Outcome.actual`. */
  expected: string;
  run(target: ProbeTarget): Promise<Outcome>;
}

export interface ProbeResult extends Omit<Probe, "run">, Outcome {
  ms: number;
}

export type Role = "student" | "instructor" | "admin";

/** The seeded users, by part they play in the probes. */
export interface ProbeUsers {
  admin: number;
  instructor: number;
  instructor2: number;
  /** A student enrolled in PLAYER. */
  student: number;
  /** Another student enrolled in PLAYER. */
  otherStudent: number;
}

/** The API under test and what the probes know about it. */
export interface ProbeTarget {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  authSecret: string;
  metricsToken: string;
  dbPassword: string;
  users: ProbeUsers;
  limits: {
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    maxConnections: number;
    maxBatchSize: number;
    maxBodyBytes: number;
  };
  /** A valid HS256 token (1 h) for `sub` with `role`; remembered as sent. */
  token(role: Role, sub: number): string;
  /** A token built exactly as `spec` says (see tokens.ts); remembered as sent. */
  forge(spec: JwtSpec): string;
  /** One HTTP request on a fresh connection; the token in it and the response are remembered. */
  send(request: HttpRequest): Promise<HttpResponse>;
  /** Remembers a token sent some other way (a raw socket). */
  sent(token: string): void;
  /** Every token sent so far. */
  sentTokens(): ReadonlySet<string>;
  /** Every response `send` received so far. */
  responses(): readonly HttpResponse[];
  /** Everything the API process wrote to stdout and stderr so far. */
  apiOutput(): string;
}
