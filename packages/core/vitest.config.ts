import { defineConfig } from "vitest/config";

const SOURCE_FIRST = ["source", "module", "node", "development|production"];

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources ("source" export condition): tests need no build.
  // Test files run in the "ssr" environment; vitest's own "__vitest__" environment loads globalSetup.
  ssr: { resolve: { conditions: SOURCE_FIRST } },
  environments: { __vitest__: { resolve: { conditions: SOURCE_FIRST } } },
  test: {
    globalSetup: ["./src/testing/globalSetup.ts"],
    env: { LOG_LEVEL: "silent" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
  },
});
