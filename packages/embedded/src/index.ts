export {
  startEmbeddedPostgres,
  freePort,
  type EmbeddedPostgresOptions,
  type RunningPostgres,
} from "./embeddedPostgres.ts";
export { adminQuery, ensureDatabase, withDatabase } from "./databases.ts";
