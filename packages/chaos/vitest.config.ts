import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One PostgreSQL per run (DATABASE_URL or embedded) and a migrated template to clone; the CI-sized round starts its own.
    globalSetup: ["@coupler/testing/globalSetup"],
    env: { LOG_LEVEL: "silent" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    include: ["src/**/*.test.ts"],
  },
});
