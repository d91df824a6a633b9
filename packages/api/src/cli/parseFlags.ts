import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError } from "@coupler/core/config";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Flags<O extends Options> = ReturnType<
  typeof parseArgs<{ options: O; strict: true; allowPositionals: false }>
>["values"];

/**
 * Parses an executable's command line with node:util's `parseArgs` (strict:
 * an unknown flag or a stray argument is refused). `--help`/`-h` is always
 * understood and returns `undefined`, so the caller prints its help and exits
 * 0. A bad command line throws a ConfigError (one line, exit 2 through
 * `orExit`) that ends with "(<helpCommand> for usage)": the command a person
 * types, e.g. "pnpm --silent --filter @coupler/api token --help".
 */
export function parseFlags<const O extends Options>(
  helpCommand: string,
  options: O,
  argv: string[] = process.argv.slice(2),
): Flags<O> | undefined {
  try {
    if (argv.includes("--help") || argv.includes("-h")) return undefined;
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new ConfigError(`${error instanceof Error ? error.message : String(error)} (${helpCommand} for usage)`);
  }
}
