import { pino, type Logger } from "pino";
import { coreEnv } from "./env.ts";

export type { Logger };

/** The default structured logger: JSON lines on stdout at LOG_LEVEL. */
export function createLogger(name = "coupler", level: string = coreEnv().LOG_LEVEL): Logger {
  return pino({ name, level });
}
