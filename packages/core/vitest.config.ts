import { couplerVitestConfig } from "../../vitest.shared.ts";

// Unit tests only; the tests against a real PostgreSQL live in @coupler/testing (test/core/).
export default couplerVitestConfig({ include: ["src/**/*.test.ts"] });
