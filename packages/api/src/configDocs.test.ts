import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { apiConfigSchema, parseApiConfig } from "./config.ts";

/**
 * `.env.example` and the guide's environment table (docs/guide/configuration.md) are read by people
 * choosing settings; both are checked against the schema the API parses its
 * environment with, so a variable added to the schema (here or in core's
 * `configFields`) fails this test until it is documented in both, and a
 * variable removed from it fails until both forget it. Regression: the
 * example said it listed every variable while missing 11 (issue 16).
 */
const root = new URL("../../../", import.meta.url);
const SCHEMA = Object.keys(apiConfigSchema.shape).sort();

/** `NAME=value` or `# NAME=value` lines per `# --- section ---` of .env.example. */
function exampleSections(): Map<string, Map<string, string>> {
  const sections = new Map<string, Map<string, string>>();
  let current = new Map<string, string>();
  sections.set("", current);
  for (const line of readFileSync(new URL(".env.example", root), "utf8").split("\n")) {
    const heading = /^# --- (.+?) ---/.exec(line);
    if (heading?.[1]) sections.set(heading[1], (current = new Map()));
    const variable = /^#? ?([A-Z][A-Z0-9_]*)=(\S*)/.exec(line);
    if (variable?.[1]) current.set(variable[1], variable[2] ?? "");
  }
  return sections;
}

/** The variables of the guide's "## Environment" table (docs/guide/configuration.md). */
function guideTable(): string[] {
  const guide = readFileSync(new URL("docs/guide/configuration.md", root), "utf8");
  const section = guide.slice(guide.indexOf("## Environment"));
  const table = section.slice(0, section.indexOf("\n## ", 1));
  return [...table.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((m) => m[1] ?? "").sort();
}

describe("the documented environment", () => {
  it("lists in .env.example exactly the API's variables, outside the bench's own section", () => {
    const documented = [...exampleSections()]
      .filter(([name]) => !name.startsWith("bench"))
      .flatMap(([, vars]) => [...vars.keys()]);
    expect(documented.sort()).toEqual(SCHEMA);
  });

  it("lists in the guide's environment table exactly the API's variables", () => {
    expect(guideTable()).toEqual(SCHEMA);
  });

  it("shows in .env.example the default of every numeric or on/off variable it gives a value", () => {
    const defaults = parseApiConfig({}) as Record<string, unknown>;
    for (const [, vars] of exampleSections()) {
      for (const [name, value] of vars) {
        if (value === "" || !(name in defaults) || !["number", "boolean"].includes(typeof defaults[name])) continue;
        expect({ name, value: (parseApiConfig({ [name]: value }) as Record<string, unknown>)[name] }).toEqual({
          name,
          value: defaults[name],
        });
      }
    }
  });
});
