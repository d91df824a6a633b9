import { couplerVitestConfig } from "../../vitest.shared.ts";

export default couplerVitestConfig({
  // The harness's setup: one PostgreSQL per run (DATABASE_URL or embedded) and a migrated template to clone.
  globalSetup: ["./test/globalSetup.ts"],
  include: ["src/**/*.test.ts", "test/**/*.test.ts"],
});
