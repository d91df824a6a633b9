/**
 * BASELINE, not a product: the least a server can do to answer the API's
 * level-up. node:http, JSON.parse, the coupler's level-up transaction through
 * node-postgres (the ceiling's `levelUpTransaction`), JSON.stringify. No auth
 * (the Authorization header is ignored), no validation, logs or metrics. It
 * answers the same path and body shape as the API (`POST
 * /trpc/progression.levelUp`, `{"result":{"data":…}}`), so the same k6 script
 * drives both and their CPU per call can be compared.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Catalogue, createDatabase } from "@coupler/core";
import { levelUpTransaction } from "../ceiling/levelUpTransaction.ts";

export interface MinimalServerOptions {
  databaseUrl: string;
  poolSize: number;
  lockTimeoutMs: number;
  port: number;
  host: string;
}

export interface MinimalServer {
  url: string;
  close(): Promise<void>;
}

const LEVEL_UP_PATH = "/trpc/progression.levelUp";

export async function startMinimalServer(options: MinimalServerOptions): Promise<MinimalServer> {
  const database = createDatabase({
    connectionString: options.databaseUrl,
    max: options.poolSize,
    applicationName: "coupler-bench-minimal",
  });
  // Loaded once: the hot path reads no catalogue.
  const catalogue = new Catalogue(database.db);
  const rules = new Map((await catalogue.all()).map((r) => [r.id, r]));

  const levelUp = async (body: string) => {
    const input = JSON.parse(body) as {
      userId: number;
      specialization: string;
      xpGained: number;
      sessionsCompleted: number;
    };
    const found = rules.get(input.specialization);
    if (!found) throw new Error(`specialization ${input.specialization} is not in the catalogue`);
    const client = await database.pool.connect();
    try {
      return await levelUpTransaction(client, found, {
        ...input,
        lockTimeoutMs: options.lockTimeoutMs,
        actor: "minimal",
      });
    } finally {
      client.release();
    }
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST" || req.url !== LEVEL_UP_PATH) {
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"not found"}}');
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      levelUp(Buffer.concat(chunks).toString("utf8")).then(
        (data) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ result: { data } })),
        (error: unknown) =>
          res
            .writeHead(500, { "content-type": "application/json" })
            .end(JSON.stringify({ error: { message: error instanceof Error ? error.message : String(error) } })),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port, options.host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await database.close();
    },
  };
}
