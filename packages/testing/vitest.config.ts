import { couplerVitestConfig } from "../../vitest.shared.ts";

export default couplerVitestConfig({
  globalSetup: ["./src/globalSetup.ts"],
  include: ["test/**/*.test.ts"],
});
