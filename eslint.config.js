// One flat config for the whole workspace; packages run `eslint .` from their folder.
import js from "@eslint/js";
import { createNodeResolver, importX } from "eslint-plugin-import-x";
import tseslint from "typescript-eslint";

/** The one module allowed to touch tRPC's internals (see its header); everything else goes through it. */
const TRPC_INTERNALS = "packages/api/src/trpcInternals.ts";
const internalsMessage = `tRPC's internals change without notice: use ${TRPC_INTERNALS}, which owns every use of them behind the pinned version.`;

const noTrpcInternals = [
  { selector: "MemberExpression[property.name='_def']", message: internalsMessage },
  { selector: "MemberExpression[property.value='_def']", message: internalsMessage },
  { selector: "ObjectPattern > Property[key.name='_def']", message: internalsMessage },
  { selector: "TSIndexedAccessType > TSLiteralType > Literal[value='_def']", message: internalsMessage },
  // no-restricted-imports sees only static imports: `await import(…)`, `import("…").T` types and require(…) too.
  {
    selector: "ImportExpression[source.value=/^@trpc\\u002Fserver\\u002Funstable-core-do-not-import/]",
    message: internalsMessage,
  },
  {
    selector: "TSImportType[argument.literal.value=/^@trpc\\u002Fserver\\u002Funstable-core-do-not-import/]",
    message: internalsMessage,
  },
  {
    selector:
      "CallExpression[callee.name='require'][arguments.0.value=/^@trpc\\u002Fserver\\u002Funstable-core-do-not-import/]",
    message: internalsMessage,
  },
];
const noSeedAliases = [
  {
    selector:
      "MemberExpression[property.name=/^(levelUpAtomic|updateLevelAtomic|syncExistingRecordsAtomic|validateConsistency)$/]",
    message:
      "A deprecated seed alias (core's coupler/seedAliases.ts): call levelUp, advance, sync or validate with one input object.",
  },
];

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "**/drizzle/meta/**", "**/results/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-non-null-assertion": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // Import cycles through values: a module graph that reads top-down. import-x skips type-only
    // imports and has no option to count them; `pnpm lint:cycles` (dpdm, run by `pnpm lint` and
    // `pnpm test`) checks every import, type imports included.
    plugins: { "import-x": importX },
    settings: {
      "import-x/extensions": [".ts", ".js", ".mjs"],
      "import-x/parsers": { "@typescript-eslint/parser": [".ts"] },
      "import-x/resolver-next": [
        createNodeResolver({
          extensions: [".ts", ".js", ".mjs", ".json"],
          conditionNames: ["source", "import", "default"],
        }),
      ],
    },
    rules: { "import-x/no-cycle": ["error", { ignoreExternal: true }] },
  },
  {
    ignores: [TRPC_INTERNALS],
    rules: {
      "no-restricted-imports": [
        "error",
        { paths: [{ name: "@trpc/server/unstable-core-do-not-import", message: internalsMessage }] },
      ],
      "no-restricted-syntax": ["error", ...noTrpcInternals],
    },
  },
  {
    // The seed's aliases are for outside callers; only their own tests call them here.
    files: ["**/*.ts", "**/*.js"],
    ignores: [TRPC_INTERNALS, "**/*.test.ts", "**/test/**"],
    rules: { "no-restricted-syntax": ["error", ...noTrpcInternals, ...noSeedAliases] },
  },
);
