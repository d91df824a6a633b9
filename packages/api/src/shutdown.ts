import type { Logger } from "@coupler/core";

/** How long after the first signal a repeated Ctrl-C counts as "exit now" rather than a key held down. */
export const FORCE_AFTER_MS = 3000;
/** How often the process checks that whoever started it is still there. */
const PARENT_CHECK_MS = 1000;

export interface StopOptions {
  /**
   * Also stop when the parent process goes away. Only for a launcher that
   * asked for it (`pnpm start` and `pnpm dev` pass `--stop-with-parent`; a
   * cluster worker's parent is its primary): pnpm killed without forwarding
   * the signal would otherwise leave the API running as an orphan. Off for
   * `node dist/main.js` under nohup, setsid or a supervisor, whose launcher
   * exits on purpose (issue 17: a backgrounded API stopped itself).
   */
  stopWithParent: boolean;
  /**
   * True once the HTTP server has drained and said "coupler API stopped"; a
   * repeated signal after that (pnpm forwarding the terminal's Ctrl-C late,
   * while the embedded PostgreSQL stops) is not reported as "still draining".
   */
  drained?: () => boolean;
}

/**
 * Runs `stop` once, then exits 0 (1 if stopping failed), on the first of
 * SIGTERM, SIGINT, or (with `stopWithParent`) the parent process going away.
 * During the drain a further SIGTERM is ignored, and so is a SIGINT within
 * FORCE_AFTER_MS of the first signal (terminals and launchers often deliver
 * Ctrl-C twice); a later Ctrl-C exits at once with 130. Once stopped, nothing
 * more is logged.
 */
export function stopOnSignals(logger: Logger, stop: () => Promise<void>, options: StopOptions): void {
  let firstAt: number | undefined;
  let stopped = false;
  const begin = async (reason: string) => {
    firstAt = Date.now();
    logger.info({ reason }, "shutting down: draining in-flight requests");
    try {
      await stop();
      stopped = true;
      process.exit(0);
    } catch (error) {
      logger.error({ err: error }, "shutdown failed");
      process.exit(1);
    }
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) return void begin(signal);
    if (stopped) return;
    if (signal === "SIGINT" && Date.now() - firstAt >= FORCE_AFTER_MS) {
      logger.warn({ signal }, "repeated Ctrl-C: exiting without waiting for the drain");
      process.exit(130);
    }
    if (!options.drained?.())
      logger.info({ signal }, `already draining; Ctrl-C again after ${FORCE_AFTER_MS / 1000} s to exit at once`);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  const parent = process.ppid;
  if (options.stopWithParent && parent > 1) {
    const timer = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(timer);
      if (firstAt === undefined) void begin("parent process exited");
    }, PARENT_CHECK_MS);
    timer.unref();
  }
}
