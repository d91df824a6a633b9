import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // The harness's setup (@coupler/testing): one PostgreSQL per run (DATABASE_URL or embedded) and a migrated template to clone.
    globalSetup: ["@coupler/testing/globalSetup"],
    env: { LOG_LEVEL: "silent" },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Test files share a worker's module cache: every file imports the same server, and imports were most of the run.
    isolate: false,
    // The HTTP tests run twice: on the lean path (the default) and on tRPC's own adapter, which must answer alike.
    projects: [
      {
        extends: true,
        test: { name: "lean", include: ["src/**/*.test.ts", "test/**/*.test.ts"], provide: { leanHttp: true } },
      },
      {
        extends: true,
        test: { name: "official", include: ["test/**/*.test.ts"], exclude: ["test/leanHttp.*.test.ts"], provide: { leanHttp: false } },
      },
    ],
  },
});
