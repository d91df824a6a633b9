import { defineConfig } from "drizzle-kit";

// Generation only: migrations are applied by `src/migrate.ts`, never by drizzle-kit push.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/schema.ts",
  out: "./drizzle",
});
