import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // Core's setup: one PostgreSQL per run (DATABASE_URL or embedded) and a migrated template to clone.
    globalSetup: ["@coupler/core/testing/globalSetup"],
    env: { LOG_LEVEL: "silent" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
  },
});
