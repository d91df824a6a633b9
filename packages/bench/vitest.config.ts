import { couplerVitestConfig } from "../../vitest.shared.ts";

export default couplerVitestConfig({
  // One real PostgreSQL per run (embedded, or DATABASE_URL), for the ceiling's transaction test.
  globalSetup: ["./test/globalSetup.ts"],
  // The CLI tests start `pnpm bench` as a process; on a busy 2-core machine that can take seconds.
  testTimeout: 60_000,
});
