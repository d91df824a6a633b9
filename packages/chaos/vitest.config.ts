import { couplerVitestConfig } from "../../vitest.shared.ts";

export default couplerVitestConfig({
  // One PostgreSQL per run (DATABASE_URL or embedded) and a migrated template to clone; the CI-sized round starts its own.
  globalSetup: ["./test/globalSetup.ts"],
  include: ["src/**/*.test.ts"],
});
