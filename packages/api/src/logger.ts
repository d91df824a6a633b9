import { createLogger, type Logger } from "@coupler/core";
import { pino } from "pino";

/**
 * The executables' logger: JSON lines on stdout (what log collectors parse),
 * or pino-pretty's coloured lines when stdout is a terminal. pino-pretty is
 * imported only then, so a deployment's JSON path never loads it.
 */
export async function createApiLogger(name: string, level: string): Promise<Logger> {
  if (!process.stdout.isTTY) return createLogger(name, level);
  const { default: pretty } = await import("pino-pretty");
  return pino({ name, level }, pretty({ sync: true, ignore: "hostname" }));
}
