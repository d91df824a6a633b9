import { execFile } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { appRouter } from "../src/root.ts";
import { procedureTable } from "../src/trpcInternals.ts";
import { headingAnchors, markdownLinks, shellCommands, type ShownCommand } from "./markdown.ts";

/*
 * Issue 23: the README became a two-minute read and the rest moved into
 * docs/guide. A reader pastes what these pages show, and follows their links;
 * this file keeps both working. Every internal link (a relative path, and its
 * #anchor) resolves, and every command of the README and the guide names a
 * script, package, file, flag, procedure and version that exists.
 */
const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

function markdownUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((name) => name.endsWith(".md"))
    .map((name) => join(dir, name))
    .sort();
}

const GUIDE = ["README.md", ...markdownUnder("docs/guide"), "packages/client/README.md"];
const LINKED = [
  ...GUIDE,
  ...markdownUnder("docs").filter((path) => !path.startsWith("docs/guide")),
  "deploy/README.md",
  "ARCHITECTURE.md",
  "SCALING.md",
  "RELIABILITY.md",
  "BENCHMARKS.md",
  "CHANGELOG.md",
];

/** Where each internal link of `file` fails to lead, as "file:line target: why". */
function brokenLinks(file: string): string[] {
  const broken: string[] = [];
  for (const { target, line } of markdownLinks(read(file))) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:: outside the repository
    const [path = "", anchor] = target.split("#");
    const resolved = path === "" ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), decodeURIComponent(path));
    const where = `${file}:${line} ${target}`;
    if (!resolved.startsWith(ROOT) || !existsSync(resolved)) broken.push(`${where}: no such file`);
    else if (anchor !== undefined && statSync(resolved).isFile()) {
      if (!resolved.endsWith(".md")) broken.push(`${where}: an anchor into a file that is not Markdown`);
      else if (!headingAnchors(readFileSync(resolved, "utf8")).has(anchor))
        broken.push(`${where}: ${relative(ROOT, resolved)} has no heading #${anchor}`);
    }
  }
  return broken;
}

describe("the documentation's internal links", () => {
  it("lead every one of them to a file of the repository, and each #anchor to a heading of it", () => {
    expect(LINKED.flatMap(brokenLinks)).toEqual([]);
  });

  it("are really checked: a moved page and a renamed heading are reported", () => {
    expect(brokenLinks("README.md").length).toBe(0);
    const anchors = headingAnchors(
      "# What `pnpm start` does\n## Bench: one + two\n## Bench: one + two\n```sh\n# not a heading\n```",
    );
    expect([...anchors]).toEqual(["what-pnpm-start-does", "bench-one--two", "bench-one--two-1"]);
    expect(markdownLinks("[a](docs/guide/nope.md) `[b](skipped.md)` [c](#x)").map((l) => l.target)).toEqual([
      "docs/guide/nope.md",
      "#x",
    ]);
  });
});

// ---- commands ----

interface Manifest {
  name: string;
  version: string;
  packageManager?: string;
  scripts?: Record<string, string>;
}
const manifest = (dir: string): Manifest => JSON.parse(read(join(dir, "package.json"))) as Manifest;
const PACKAGES = new Map(
  readdirSync(join(ROOT, "packages")).map((dir) => [manifest(`packages/${dir}`).name, `packages/${dir}`]),
);

/** The source of each executable a reader may start, keyed by how the docs start it. */
const EXECUTABLES: Record<string, string> = {
  ". start": "packages/api/src/main.ts",
  ". db:migrate": "packages/core/src/cli/migrate.ts",
  ". bench": "packages/bench/src/cli.ts",
  ". chaos": "packages/chaos/src/cli.ts",
  "packages/api token": "packages/api/src/cli/token.ts",
  "packages/api dev": "packages/api/src/main.ts",
  "packages/bench bench": "packages/bench/src/cli.ts",
  "packages/chaos chaos": "packages/chaos/src/cli.ts",
  "packages/chaos probe": "packages/chaos/src/probes/cli.ts",
  "packages/core migrate": "packages/core/src/cli/migrate.ts",
};

const helps = new Map<string, Promise<string>>();
/** `<entry> --help`, run once per entry from source, with no database to reach. */
function helpOf(entry: string): Promise<string> {
  let help = helps.get(entry);
  if (!help) {
    help = promisify(execFile)(
      process.execPath,
      ["--conditions=source", "--import", "tsx", join(ROOT, entry), "--help"],
      {
        cwd: join(ROOT, "packages/api"),
        env: { PATH: process.env.PATH ?? "", COUPLER_ENV_FILE: "", DATABASE_URL: "postgres://nobody@127.0.0.1:1/none" },
        timeout: 120_000,
      },
    ).then(({ stdout }) => stdout);
    helps.set(entry, help);
  }
  return help;
}

async function unknownFlags(entry: string, args: string[]): Promise<string[]> {
  const help = await helpOf(entry);
  return args
    .filter((arg) => arg.startsWith("--"))
    .map((arg) => arg.split("=")[0] ?? arg)
    .filter((flag) => !new RegExp(`${flag}(?![\\w-])`).test(help));
}

const PNPM_BUILTINS = new Set(["install", "i", "add", "exec", "pack", "dlx"]);
const PROCEDURES = new Set(procedureTable(appRouter).keys());
const client = manifest("packages/client");

/** What is wrong with one command a page shows; empty when it would run as shown. */
async function problems({ words }: ShownCommand): Promise<string[]> {
  const [command, ...args] = words;
  switch (command) {
    case "pnpm": {
      let dir = ".";
      let i = 0;
      for (; i < args.length && (args[i] ?? "").startsWith("-"); i++) {
        const option = args[i];
        if (option === "--filter" || option === "-F" || option === "--dir" || option === "-C") {
          const value = (args[++i] ?? "").replace(/^\.\.\.|\.\.\.$/g, "");
          const found = option === "--dir" || option === "-C" ? value : PACKAGES.get(value);
          if (!found || !existsSync(join(ROOT, found, "package.json"))) return [`no package ${value}`];
          dir = found;
        }
      }
      let script = args[i] ?? "";
      if (PNPM_BUILTINS.has(script)) return [];
      if (script === "run") script = args[++i] ?? "";
      if (!manifest(dir).scripts?.[script]) return [`no script "${script}" in ${dir}/package.json`];
      const entry = EXECUTABLES[`${dir} ${script}`];
      const rest = args.slice(i + 1);
      if (!entry) return rest.some((a) => a.startsWith("--")) ? [`flags for ${script}, which has no --help here`] : [];
      return (await unknownFlags(entry, rest)).map((flag) => `${dir} ${script} has no ${flag} in its --help`);
    }
    case "node": {
      const [file = "", ...rest] = args;
      const source = file.replace(/\/dist\/(.+)\.js$/, "/src/$1.ts");
      if (!existsSync(join(ROOT, source))) return [`${file}: no ${source} builds it`];
      return (await unknownFlags(source, rest)).map((flag) => `${file} has no ${flag} in its --help`);
    }
    case "npm": {
      const pnpm = args.find((a) => a.startsWith("pnpm@"));
      const tarball = args.find((a) => a.endsWith(".tgz"));
      if (pnpm)
        return pnpm === `pnpm@${manifest(".").packageManager?.split("@")[1]}` ? [] : [`${pnpm} is not packageManager`];
      if (tarball && !tarball.endsWith(`/coupler-client-${client.version}.tgz`))
        return [`${tarball}: pnpm client:pack writes packages/client/dist/coupler-client-${client.version}.tgz`];
      return tarball || args.includes("install") ? [] : [`npm ${args.join(" ")}`];
    }
    case "curl": {
      const paths = args.flatMap((a) => [...a.matchAll(/\/(?:trpc\/([\w.]+)|api\/(\w+)\/(\w+))/g)]);
      return paths
        .map((m) => m[1] ?? `${m[2]}.${m[3]}`)
        .filter((path) => !PROCEDURES.has(path))
        .map((path) => `no procedure ${path}`);
    }
    default:
      return [`${command ?? ""}: not a command this test knows how to check; teach it`];
  }
}

describe("the commands of the README and the guide", () => {
  const shown = GUIDE.flatMap((file) => shellCommands(read(file)).map((command) => ({ file, command })));

  it("include the two commands of the README, exactly as CI and users rely on them", () => {
    const readme = shellCommands(read("README.md")).map((c) => c.source);
    expect(readme).toContain("npm install --global pnpm@10.34.9 && pnpm install && pnpm start");
    expect(readme).toContain("pnpm install --frozen-lockfile && pnpm test");
    expect(read(".ci/run")).toContain("# The README's test command: pnpm install --frozen-lockfile && pnpm test");
    expect(shown.length).toBeGreaterThan(20);
  });

  it(
    "name only scripts, packages, files, flags, procedures and versions that exist",
    { timeout: 300_000 },
    async () => {
      const found = await Promise.all(
        shown.map(async ({ file, command }) =>
          (await problems(command)).map((p) => `${file}:${command.line} ${command.words.join(" ")}: ${p}`),
        ),
      );
      expect(found.flat()).toEqual([]);
    },
  );

  it("are really checked: a missing script, flag, file or procedure is reported", { timeout: 120_000 }, async () => {
    const check = async (line: string) =>
      problems(shellCommands(`\`\`\`sh\n${line}\n\`\`\``)[0] ?? { words: [], line: 0, source: "" });
    expect(await check("pnpm no-such-script")).toEqual(['no script "no-such-script" in ./package.json']);
    expect(await check("pnpm chaos --no-such-flag")).toEqual([". chaos has no --no-such-flag in its --help"]);
    expect(await check("node packages/api/dist/nothing.js")).toEqual([
      "packages/api/dist/nothing.js: no packages/api/src/nothing.ts builds it",
    ]);
    expect(await check("curl -s http://127.0.0.1:3000/trpc/progression.fly")).toEqual(["no procedure progression.fly"]);
    expect(await check("TOKEN=$(pnpm --silent --filter @coupler/api token --sub 2 --role instructor)")).toEqual([]);
  });
});
