import { defineConfig } from "vitest/config";

/** Workspace packages resolve to their TypeScript sources (the "source" export condition): tests need no build. */
const SOURCE_FIRST = ["source", "module", "node", "development|production"];

type TestOptions = NonNullable<
  Parameters<typeof defineConfig>[0] extends infer C ? (C extends { test?: infer T } ? T : never) : never
>;

/**
 * Every package's vitest settings. `globalSetup` must name a local file: a bare
 * package name there is resolved with the default conditions (to dist/).
 */
export function couplerVitestConfig(test: TestOptions) {
  return defineConfig({
    // Test files run in the "ssr" environment; vitest's own "__vitest__" environment loads globalSetup.
    ssr: { resolve: { conditions: SOURCE_FIRST } },
    environments: { __vitest__: { resolve: { conditions: SOURCE_FIRST } } },
    test: { env: { LOG_LEVEL: "silent" }, testTimeout: 30_000, hookTimeout: 60_000, ...test },
  });
}
