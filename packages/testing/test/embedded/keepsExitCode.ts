// Child process of exitCode.test.ts: starts and stops an embedded PostgreSQL, then leaves exit code 3.
import { startEmbeddedPostgres } from "@coupler/embedded";

const server = await startEmbeddedPostgres({ fast: true });
await server.stop();
process.exitCode = 3;
