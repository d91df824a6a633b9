import { coreEnv } from "../env.ts";
import { migrate } from "../migrate.ts";

const url = coreEnv().DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is not set: point it at the PostgreSQL 15+ database to migrate.");
  process.exit(2);
}
await migrate(url);
console.log("migrations applied");
