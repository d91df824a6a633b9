import { couplerVitestConfig } from "../../vitest.shared.ts";

export default couplerVitestConfig({
  // The harness's setup: one PostgreSQL per run (DATABASE_URL or embedded) and a migrated template to clone.
  globalSetup: ["./test/globalSetup.ts"],
  // Test files share a worker's module cache: every file imports the same server, and imports were most of the run.
  isolate: false,
  // The HTTP tests run twice: on the lean path (the default) and on tRPC's own adapter, which must answer alike.
  // Tests of the process (main, workers, CLIs) and of the socket limits run once.
  projects: [
    {
      extends: true,
      test: { name: "lean", include: ["src/**/*.test.ts", "test/**/*.test.ts"], provide: { leanHttp: true } },
    },
    {
      extends: true,
      test: {
        name: "official",
        include: ["test/**/*.test.ts"],
        exclude: [
          "test/leanHttp.*.test.ts",
          // Not about /trpc: the process, the CLIs, socket limits, dashboards, REST, /docs, the packed client and the docs.
          "test/main.test.ts",
          "test/daemon.test.ts",
          "test/executables.test.ts",
          "test/shutdown.test.ts",
          "test/workers.test.ts",
          "test/workersMetrics.test.ts",
          "test/workersIntegrity.test.ts",
          "test/migrateOnStart.test.ts",
          "test/retryKeyed.test.ts",
          "test/drainReadiness.test.ts",
          "test/prometheus.test.ts",
          "test/readinessMetric.test.ts",
          "test/tokenCli.test.ts",
          "test/slowClient.test.ts",
          "test/deployMetrics.test.ts",
          "test/openapi.test.ts",
          "test/docsBrowser.test.ts",
          "test/clientConsumer.test.ts",
          "test/docs.test.ts",
        ],
        provide: { leanHttp: false },
      },
    },
  ],
});
