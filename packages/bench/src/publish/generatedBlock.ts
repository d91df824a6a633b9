/**
 * A generated block in a hand-written document: text between two marker
 * comments that report:publish rewrites from committed results, so a figure
 * in SCALING.md or BENCHMARKS.md comes from a summary.json, never from a
 * hand edit. Pure string functions.
 */

const begin = (name: string) =>
  `<!-- generated: ${name}, by pnpm --filter @coupler/bench report:publish from docs/benchmarks/published.json; do not edit -->`;
const end = (name: string) => `<!-- end of generated: ${name} -->`;

export class GeneratedBlockError extends Error {
  override name = "GeneratedBlockError";
}

/** `content` between the block's markers. */
export function generatedBlock(name: string, content: string): string {
  return `${begin(name)}\n${content.trimEnd()}\n${end(name)}`;
}

/** The block's content as the document holds it, or undefined when the document has no such block. */
export function readGeneratedBlock(text: string, name: string): string | undefined {
  const from = text.indexOf(begin(name));
  if (from < 0) return undefined;
  const to = text.indexOf(end(name), from);
  if (to < 0) throw new GeneratedBlockError(`the generated block ${name} has no end marker`);
  return text.slice(from + begin(name).length + 1, to).trimEnd();
}

/**
 * The document with the block's content replaced by `content`. A document
 * without the block gets it inserted before the first line `before` matches
 * (at the end when none does), with a blank line either side; with
 * `before` undefined a missing block is an error (the document must place it).
 */
export function replaceGeneratedBlock(text: string, name: string, content: string, before?: RegExp): string {
  const block = generatedBlock(name, content);
  const from = text.indexOf(begin(name));
  if (from >= 0) {
    const to = text.indexOf(end(name), from);
    if (to < 0) throw new GeneratedBlockError(`the generated block ${name} has no end marker`);
    return text.slice(0, from) + block + text.slice(to + end(name).length);
  }
  if (before === undefined) throw new GeneratedBlockError(`the document has no generated block ${name} to replace`);
  const lines = text.split("\n");
  const at = lines.findIndex((line) => before.test(line));
  if (at < 0) return `${text.trimEnd()}\n\n${block}\n`;
  return [...lines.slice(0, at), block, "", ...lines.slice(at)].join("\n");
}
