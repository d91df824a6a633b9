// A local file, so vitest loads it through its module runner and the "source" condition applies (a bare
// package name in `globalSetup` is resolved with the default conditions, i.e. to dist/).
export { default } from "@coupler/core/testing/globalSetup";
