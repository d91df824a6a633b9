import { pino, type Logger } from "pino";

export type { Logger };

/** Level of a logger nobody chose one for; executables pass their LOG_LEVEL instead. */
export const DEFAULT_LOG_LEVEL = "info";

/** The default structured logger: JSON lines on stdout. */
export function createLogger(name = "coupler", level: string = DEFAULT_LOG_LEVEL): Logger {
  return pino({ name, level });
}
