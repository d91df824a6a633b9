import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The CLI tests start `pnpm bench` as a process; on a busy 2-core machine that can take seconds.
    testTimeout: 60_000,
  },
});
