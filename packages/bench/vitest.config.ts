import { defineConfig } from "vitest/config";

const SOURCE_FIRST = ["source", "module", "node", "development|production"];

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources ("source" export condition): tests need no build.
  // Test files run in the "ssr" environment; vitest's own "__vitest__" environment loads globalSetup.
  ssr: { resolve: { conditions: SOURCE_FIRST } },
  environments: { __vitest__: { resolve: { conditions: SOURCE_FIRST } } },
  test: {
    // One real PostgreSQL per run (embedded, or DATABASE_URL), for the ceiling's transaction test.
    globalSetup: ["./test/globalSetup.ts"],
    env: { LOG_LEVEL: "silent" },
    // The CLI tests start `pnpm bench` as a process; on a busy 2-core machine that can take seconds.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
