// A local file, so vitest loads it through its module runner and the "source" condition applies.
export { default } from "@coupler/testing/globalSetup";
