import type { Probe, ProbeTarget } from "./types.ts";

/** A probe that the API's whole output (stdout and stderr, at LOG_LEVEL=debug) does not contain what `secrets` returns. */
function absentFromOutput(id: string, sends: string, secrets: (t: ProbeTarget) => Iterable<string>): Probe {
  return {
    id,
    category: "secrets",
    sends,
    expected: "absent from the API's stdout and stderr",
    async run(t) {
      const output = t.apiOutput();
      const lines = output.split("\n").filter(Boolean).length;
      const list = [...secrets(t)];
      const leaked = list.filter((secret) => output.includes(secret));
      if (lines === 0) return { actual: "no output captured", pass: false };
      return leaked.length === 0
        ? { actual: `absent (${list.length} checked against ${lines} lines)`, pass: list.length > 0 }
        : { actual: `${leaked.length} of ${list.length} found in the output`, pass: false };
    },
  };
}

/** Runs last: it reads what every other probe made the API write. */
export const secretProbes: Probe[] = [
  absentFromOutput("secret-auth-secret", "AUTH_SECRET", (t) => [t.authSecret]),
  absentFromOutput("secret-db-password", "the PostgreSQL password", (t) => [t.dbPassword]),
  absentFromOutput("secret-metrics-token", "METRICS_TOKEN", (t) => [t.metricsToken]),
  // Signatures rather than whole tokens: a log line that cut a token short would still carry its signature.
  absentFromOutput("secret-sent-tokens", "every token the probes sent (its signature part, ≥ 16 characters)", (t) =>
    [...t.sentTokens()].map((token) => token.split(".")[2] ?? token).filter((part) => part.length >= 16),
  ),
];
