import { defineConfig } from "vitest/config";

// Unit tests only; the tests against a real PostgreSQL live in @coupler/testing (test/core/).
export default defineConfig({
  test: {
    env: { LOG_LEVEL: "silent" },
    include: ["src/**/*.test.ts"],
  },
});
