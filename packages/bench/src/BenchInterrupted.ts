/** The bench was stopped by a signal (Ctrl-C, SIGTERM) and tore down what it started. */
export class BenchInterrupted extends Error {
  override name = "BenchInterrupted";
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}
