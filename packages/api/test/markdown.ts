/**
 * Reading the repository's Markdown as a reader's browser would: the anchors
 * its headings get, the links it follows and the shell commands it shows.
 * Pure string functions; no file is read here.
 */

/** Fenced code blocks replaced by blank lines, so line numbers survive and nothing inside counts as prose. */
export function withoutFences(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (block) => block.replace(/[^\n]/g, ""));
}

/**
 * The anchors GitHub gives a document's headings: lower case, inline markup
 * and punctuation dropped (letters, digits, `_`, `-` and spaces kept),
 * spaces turned into `-`, and `-1`, `-2`… added to a repeated one.
 */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const [, heading] of withoutFences(markdown).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    if (heading === undefined) continue;
    const slug = heading
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .toLowerCase()
      .replace(/[^\p{L}\p{N}_\- ]/gu, "")
      .replace(/ /g, "-");
    const repeats = seen.get(slug) ?? 0;
    seen.set(slug, repeats + 1);
    anchors.add(repeats === 0 ? slug : `${slug}-${repeats}`);
  }
  return anchors;
}

/** A link of the prose: its target as written and the line it is on (1-based). */
export interface MarkdownLink {
  target: string;
  line: number;
}

/** Every `[text](target)` and `![alt](target)` outside code blocks and inline code. */
export function markdownLinks(markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  withoutFences(markdown)
    .split("\n")
    .forEach((text, index) => {
      const prose = text.replace(/`[^`]*`/g, "");
      for (const [, target] of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
        if (target !== undefined) links.push({ target, line: index + 1 });
    });
  return links;
}

/** A shell command shown to a reader: its words (quotes removed) and the line it starts on. */
export interface ShownCommand {
  words: string[];
  line: number;
  source: string;
}

/**
 * The commands of every `sh`/`bash`/`shell` block, and every inline code span
 * that starts with `pnpm ` or `node `. A line continued with `\` is one
 * command; `#` comments are dropped; `&&`, `||`, `;`, `|` and `$(…)` separate
 * commands; leading `NAME=value` assignments and `exec` are dropped.
 */
export function shellCommands(markdown: string): ShownCommand[] {
  const commands: ShownCommand[] = [];
  const lines = markdown.split("\n");
  let fence: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? "";
    const opening = /^(```|~~~)\s*(\w*)/.exec(text);
    if (fence === undefined && opening) {
      fence = ["sh", "bash", "shell"].includes(opening[2] ?? "") ? "shell" : "other";
      continue;
    }
    if (fence !== undefined && /^(```|~~~)\s*$/.test(text)) {
      fence = undefined;
      continue;
    }
    if (fence === "shell") {
      let source = text;
      const start = i;
      while (/\\\s*$/.test(source) && i + 1 < lines.length) source = source.replace(/\\\s*$/, " ") + lines[++i];
      for (const words of splitCommands(source)) commands.push({ words, line: start + 1, source: source.trim() });
    } else if (fence === undefined) {
      for (const [, span] of text.matchAll(/`((?:pnpm|node) [^`]+)`/g))
        for (const words of splitCommands(span ?? "")) commands.push({ words, line: i + 1, source: span ?? "" });
    }
  }
  return commands;
}

/** One line of shell split into commands of words, as sh would at its operators (no expansion). */
export function splitCommands(line: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  const endWord = () => {
    if (word !== undefined) words.push(word);
    word = undefined;
  };
  const endCommand = () => {
    endWord();
    while (words[0] !== undefined && (/^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]) || words[0] === "exec")) words.shift();
    if (words.length > 0) commands.push(words);
    words = [];
  };
  for (let i = 0; i < line.length; i++) {
    const c = line.charAt(i);
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else word = (word ?? "") + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (c === "<" && line.includes(">", i)) {
      // A placeholder such as `<32+ chars>` is one word (or its end), as a reader reads it.
      const end = line.indexOf(">", i);
      word = (word ?? "") + line.slice(i, end + 1);
      i = end;
    } else if (c === "#" && word === undefined) {
      break;
    } else if (c === "$" && line[i + 1] === "(") {
      endCommand();
      i++;
    } else if (/[;|&()]/.test(c)) {
      endCommand();
      if (line[i + 1] === c) i++;
    } else if (/\s/.test(c)) {
      endWord();
    } else {
      word = (word ?? "") + c;
    }
  }
  endCommand();
  return commands;
}
