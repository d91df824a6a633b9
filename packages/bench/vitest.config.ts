import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // One real PostgreSQL per run (embedded, or DATABASE_URL), for the ceiling's transaction test.
    globalSetup: ["@coupler/testing/globalSetup"],
    env: { LOG_LEVEL: "silent" },
    // The CLI tests start `pnpm bench` as a process; on a busy 2-core machine that can take seconds.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
