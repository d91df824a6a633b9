/**
 * Child-process entry of one API process for the bench: starts the server
 * with the options in argv[2] (JSON) and prints its URL as one JSON line.
 * Its configuration (LOG_LEVEL and the rest) comes from the environment the
 * parent sets, parsed once here.
 */
import { parseApiConfig, serverSettings, startServer } from "@coupler/api";
import { orExit } from "@coupler/core/config";
import { z } from "zod";

const options = z
  .object({ databaseUrl: z.string(), authSecret: z.string(), poolSize: z.number().int().positive(), lockTimeoutMs: z.number().int().positive() })
  .parse(JSON.parse(process.argv[2] ?? "{}"));

const config = orExit(() => parseApiConfig(process.env), "bench API worker");
const server = await startServer({
  ...serverSettings(config),
  ...options,
  port: 0,
  host: "127.0.0.1",
  benchMode: true,
  // The bench audits around each run itself; a periodic audit would only add load.
  integrityIntervalMs: 0,
});
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);

const stop = () => void server.close().finally(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
