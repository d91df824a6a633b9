/**
 * No pooled connection came within the call's budget (`waitedMs`, in ms):
 * the call never reached the database, so nothing was applied.
 * `toCouplerError` turns it into a retryable UNAVAILABLE that says so.
 */
export class NoConnectionError extends Error {
  override name = "NoConnectionError";
  readonly waitedMs: number;

  constructor(waitedMs: number) {
    super(`no database connection within ${waitedMs} ms`);
    this.waitedMs = waitedMs;
  }
}
