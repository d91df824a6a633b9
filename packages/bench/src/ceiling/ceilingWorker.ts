/**
 * Child-process entry of the raw-pg ceiling: `concurrency` loops, each on its
 * own connection, issue the level-up transaction back to back for the warm-up
 * plus the measured seconds, and print one JSON line with the measured phase.
 * A separate process, so the orchestrator's own work does not slow it.
 */
import { Catalogue, createDatabase } from "@coupler/core";
import { z } from "zod";
import { latencyStats } from "../latencyStats.ts";
import { levelUpTransaction } from "./levelUpTransaction.ts";

const options = z
  .object({
    databaseUrl: z.string(),
    concurrency: z.number().int().positive(),
    warmupSeconds: z.number().min(0),
    durationSeconds: z.number().positive(),
    learnerFirst: z.number().int().positive(),
    learnerCount: z.number().int().positive(),
    specialization: z.string(),
    lockTimeoutMs: z.number().int().positive(),
    xp: z.object({ min: z.number().int().min(0), max: z.number().int().min(0) }),
  })
  .parse(JSON.parse(process.argv[2] ?? "{}"));

const database = createDatabase({
  connectionString: options.databaseUrl,
  max: options.concurrency,
  applicationName: "coupler-bench-ceiling",
});
const found = await new Catalogue(database.db).get(options.specialization);
if (!found) throw new Error(`unknown specialization ${options.specialization}`);
const rules = found;

const started = performance.now();
const measureFrom = started + options.warmupSeconds * 1000;
const stopAt = measureFrom + options.durationSeconds * 1000;
// Phase lines let the parent measure CPU over exactly the measured seconds.
setTimeout(() => process.stdout.write(`${JSON.stringify({ phase: "measuring" })}\n`), measureFrom - started);
setTimeout(() => process.stdout.write(`${JSON.stringify({ phase: "measured" })}\n`), stopAt - started);
const latencies: number[] = [];
let errors = 0;

async function loop() {
  const client = await database.pool.connect();
  try {
    while (performance.now() < stopAt) {
      const t0 = performance.now();
      let failed = false;
      try {
        await levelUpTransaction(client, rules, {
          userId: options.learnerFirst + Math.floor(Math.random() * options.learnerCount),
          xpGained: options.xp.min + Math.floor(Math.random() * (options.xp.max - options.xp.min + 1)),
          sessionsCompleted: 1,
          lockTimeoutMs: options.lockTimeoutMs,
          actor: "raw-pg",
        });
      } catch {
        failed = true;
      }
      if (t0 >= measureFrom) {
        if (failed) errors++;
        else latencies.push(performance.now() - t0);
      }
    }
  } finally {
    client.release();
  }
}

await Promise.all(Array.from({ length: options.concurrency }, loop));
await database.close();
process.stdout.write(
  `${JSON.stringify({ latency: latencyStats(latencies), errors, durationSeconds: options.durationSeconds })}\n`,
);
