import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["./src/globalSetup.ts"],
    env: { LOG_LEVEL: "silent" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    include: ["test/**/*.test.ts"],
  },
});
