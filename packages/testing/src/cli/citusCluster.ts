/**
 * `pnpm --filter @coupler/testing citus:cluster [--durable] [--database NAME] [--spares N]`:
 * starts a Citus coordinator and two workers from the installed PostgreSQL
 * (the citus extension must be installed; see SCALING.md), creates one
 * database on every node with the workers registered, prints its URL, and
 * keeps the cluster up until Ctrl-C (then stops it and deletes its data).
 * `--spares N` starts N more nodes, not registered, to grow the cluster onto
 * (deploy/README.md's runbook).
 * For running `pnpm db:migrate --citus`, `pnpm start`, the API tests, chaos
 * or the bench by hand against a real cluster.
 */
import { parseArgs } from "node:util";
import { citusAvailability, startCitusCluster } from "../citusCluster.ts";

const { values } = parseArgs({
  options: {
    durable: { type: "boolean", default: false },
    database: { type: "string", default: "coupler" },
    spares: { type: "string", default: "0" },
    help: { type: "boolean", default: false },
  },
});
if (values.help) {
  process.stdout.write(
    "usage: pnpm --filter @coupler/testing citus:cluster [--durable] [--database NAME] [--spares N]\n  --durable  fsync on (for benchmarks); default off, as for tests\n  --spares N also start N nodes not registered as workers (to add with citus_add_node)\n",
  );
  process.exit(0);
}
const spares = Number(values.spares);
if (!Number.isInteger(spares) || spares < 0 || spares > 4) {
  process.stderr.write(`citus:cluster: --spares must be an integer in 0..4, got ${values.spares}\n`);
  process.exit(2);
}
const availability = citusAvailability({ ...process.env, CITUS_URL: undefined });
if (!availability.available) {
  process.stderr.write(`citus:cluster: ${availability.reason}\n`);
  process.exit(2);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void stop());
const cluster = await startCitusCluster({
  workers: 2,
  durable: values.durable,
  spares,
  env: { ...process.env, CITUS_URL: undefined },
});
const database = await cluster.createDatabase(values.database);
process.stdout.write(
  [
    `coordinator ${cluster.coordinator.host}:${cluster.coordinator.port} (${cluster.coordinator.dataDir})`,
    ...cluster.workers.map((w) => `${w.name} ${w.host}:${w.port} (${w.dataDir})`),
    ...cluster.spares.map(
      (w) => `${w.name} ${w.host}:${w.port} (${w.dataDir}), spare: not registered, no database yet`,
    ),
    `DATABASE_URL=${database.url}`,
    `CITUS_URL=${database.url}`,
    "Ctrl-C stops the cluster and deletes its data.",
    "",
  ].join("\n"),
);
// Nothing else keeps this process alive until a signal: started in the background (setsid, nohup) it
// exited at once, leaving the servers running and their data behind.
setInterval(() => {}, 1 << 30);
async function stop() {
  await cluster.stop();
  process.exit(0);
}
