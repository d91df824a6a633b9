/**
 * Child-process entry of the minimal baseline server: starts it with the
 * options in argv[2] (JSON) and prints its URL as one JSON line.
 */
import { z } from "zod";
import { startMinimalServer } from "./minimalServer.ts";

const options = z
  .object({
    databaseUrl: z.string(),
    poolSize: z.number().int().positive(),
    lockTimeoutMs: z.number().int().positive(),
  })
  .parse(JSON.parse(process.argv[2] ?? "{}"));

const server = await startMinimalServer({ ...options, port: 0, host: "127.0.0.1" });
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);

const stop = () => void server.close().finally(() => process.exit(0));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
