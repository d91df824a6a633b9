/** Exit code of `pnpm bench` when k6 cannot be found (EX_UNAVAILABLE). */
export const K6_NOT_FOUND_EXIT_CODE = 69;

/** k6 is neither at K6_BIN nor on PATH; the message says how to install it. */
export class K6NotFoundError extends Error {
  override name = "K6NotFoundError";
  readonly exitCode = K6_NOT_FOUND_EXIT_CODE;

  constructor(explicit: string | undefined) {
    const where = explicit
      ? `K6_BIN is set to ${explicit}, but no executable file is there.`
      : "k6 was not found on PATH and K6_BIN is not set.";
    super(
      [
        `pnpm bench needs k6 (https://k6.io), the load generator. ${where}`,
        "Install k6 the usual way, then run pnpm bench again:",
        "  - with your package manager: brew install k6 (macOS), winget install k6 (Windows),",
        "    or Grafana's apt/rpm repository on Linux (see https://grafana.com/docs/k6/latest/set-up/install-k6/);",
        "  - or download a release binary from https://github.com/grafana/k6/releases and put it on PATH.",
        "If k6 is installed somewhere else, point K6_BIN at it: K6_BIN=/path/to/k6 pnpm bench",
      ].join("\n"),
    );
  }
}
