import { describe, expect, it } from "vitest";
import { GeneratedBlockError, generatedBlock, readGeneratedBlock, replaceGeneratedBlock } from "./generatedBlock.ts";

const doc = [
  "# Scaling",
  "",
  "Prose before.",
  "",
  generatedBlock("table", "| a |\n| --- |\n| 1 |"),
  "",
  "Prose after.",
  "",
].join("\n");

describe("a generated block", () => {
  it("reads back the content between its markers", () => {
    expect(readGeneratedBlock(doc, "table")).toBe("| a |\n| --- |\n| 1 |");
    expect(readGeneratedBlock(doc, "chart")).toBeUndefined();
  });

  it("replaces only what is between its markers, keeping the prose around it", () => {
    const next = replaceGeneratedBlock(doc, "table", "| a |\n| --- |\n| 2 |");
    expect(readGeneratedBlock(next, "table")).toBe("| a |\n| --- |\n| 2 |");
    expect(next.replace("| 2 |", "| 1 |")).toBe(doc);
  });

  it("is inserted before the first line that matches when the document has none yet, and at the end when none matches", () => {
    const inserted = replaceGeneratedBlock(
      "# B\n\n## Citus\n\nx\n\n## About this run\n\ny\n",
      "s",
      "## Scale",
      /^## About/,
    );
    expect(inserted).toBe(`# B\n\n## Citus\n\nx\n\n${generatedBlock("s", "## Scale")}\n\n## About this run\n\ny\n`);
    expect(replaceGeneratedBlock("# B\n", "s", "z", /^## Nothing/)).toBe(`# B\n\n${generatedBlock("s", "z")}\n`);
  });

  it("must be placed by hand where no insertion point is given, and refuses a block without its end marker", () => {
    expect(() => replaceGeneratedBlock("# Scaling\n", "table", "x")).toThrow(GeneratedBlockError);
    const cut = doc.slice(0, doc.indexOf("<!-- end"));
    expect(() => readGeneratedBlock(cut, "table")).toThrow(/no end marker/);
    expect(() => replaceGeneratedBlock(cut, "table", "x")).toThrow(/no end marker/);
  });
});
