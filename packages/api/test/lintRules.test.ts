import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

/*
 * The repository's own ESLint configuration (eslint.config.js at the root),
 * run on made-up source as if it lived in packages/api/src: the rule that
 * confines tRPC's internals to trpcInternals.ts must see every way of
 * importing them, not only a static import.
 */
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

async function internalsFindings(code: string, file = "packages/api/src/example.ts"): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}${file}` });
  return (result?.messages ?? [])
    .filter((m) => m.message.includes("tRPC's internals"))
    .map((m) => `${m.line}: ${m.ruleId ?? ""}`);
}

describe("the lint rule confining tRPC's internals to trpcInternals.ts", () => {
  it("flags a static import of @trpc/server/unstable-core-do-not-import", async () => {
    expect(
      await internalsFindings(
        'import { getErrorShape } from "@trpc/server/unstable-core-do-not-import";\nexport const f = getErrorShape;\n',
      ),
    ).toHaveLength(1);
  });

  it("flags a dynamic import of it (regression: `await import(…)` was not caught)", async () => {
    const code = 'export async function f() {\n  return await import("@trpc/server/unstable-core-do-not-import");\n}\n';
    expect(await internalsFindings(code)).toEqual(["2: no-restricted-syntax"]);
  });

  it("flags require() of it", async () => {
    expect(
      await internalsFindings(
        'export const m = require("@trpc/server/unstable-core-do-not-import");\n',
        "packages/api/src/example.cts",
      ),
    ).not.toEqual([]);
  });

  it("leaves a dynamic import of tRPC's public entry points alone, and trpcInternals.ts itself", async () => {
    expect(await internalsFindings('export async function f() {\n  return await import("@trpc/server");\n}\n')).toEqual(
      [],
    );
    const code = 'export async function f() {\n  return await import("@trpc/server/unstable-core-do-not-import");\n}\n';
    expect(await internalsFindings(code, "packages/api/src/trpcInternals.ts")).toEqual([]);
  });
});
