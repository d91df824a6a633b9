/**
 * `pnpm --filter @coupler/chaos probe`: the security probes against the
 * built API (`pnpm build` first), on 127.0.0.1 only. Prints one line per
 * probe while running and a Markdown table at the end; exits 1 if any fails.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, orExit } from "@coupler/core/config";
import { ALL_PROBES } from "./allProbes.ts";
import { formatProbeTable } from "./formatProbes.ts";
import { runProbes } from "./runProbes.ts";
import { PROBE_CATEGORIES } from "./types.ts";

const USAGE = `usage: pnpm --filter @coupler/chaos probe [--json FILE] [--markdown] [--only CATEGORY|ID ...]
  --json FILE   also write the run (every probe, expected and actual) as JSON
  --markdown    print only the Markdown table on stdout (progress goes to stderr)
  --only X      run the probes of category X or with id X (repeatable; default: every probe); categories: ${PROBE_CATEGORIES.join(", ")}
  -h, --help    this text`;

const { values } = orExit(() => {
  try {
    return parseArgs({
      options: {
        json: { type: "string" },
        markdown: { type: "boolean", default: false },
        only: { type: "string", multiple: true },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    throw new ConfigError(`${error instanceof Error ? error.message : String(error)} (--help for usage)`);
  }
}, "probe");

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const only = values.only;
const probes = only ? ALL_PROBES.filter((p) => only.includes(p.id) || only.includes(p.category)) : ALL_PROBES;
if (probes.length === 0) {
  console.error(`probe: --only ${only?.join(" ")} matches no probe (--help for usage)`);
  process.exit(2);
}

const log = (line: string) => (values.markdown ? console.error(line) : console.log(line));
const run = await runProbes({ probes, log });
if (values.json) {
  const file = resolve(process.env.INIT_CWD ?? process.cwd(), values.json);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(run, null, 2)}\n`);
  log(`wrote ${file}`);
}
if (!values.markdown) console.log("");
console.log(formatProbeTable(run));
process.exit(run.failed > 0 ? 1 : 0);
