import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";

/** Where to look, beyond PATH: Windows finds `k6` as `k6.exe` through PATHEXT. */
export interface LookupOptions {
  platform?: NodeJS.Platform;
  /** Windows' PATHEXT (";"-separated extensions); cmd.exe's default when unset. */
  pathExt?: string | undefined;
}

const WINDOWS_DEFAULT_PATHEXT = ".COM;.EXE;.BAT;.CMD";

/**
 * The executable to run: `explicit` when given (it must exist and be
 * executable), else the first `name` on `searchPath`; undefined when neither.
 * On Windows each PATH directory is tried with every PATHEXT extension, as
 * cmd.exe does, since the file on disk is `k6.exe`, never `k6`.
 */
export function findExecutable(
  name: string,
  explicit: string | undefined,
  searchPath: string,
  options: LookupOptions = {},
): string | undefined {
  if (explicit !== undefined) return isExecutable(explicit) ? explicit : undefined;
  const windows = (options.platform ?? process.platform) === "win32";
  const names = windows ? windowsNames(name, options.pathExt ?? WINDOWS_DEFAULT_PATHEXT) : [name];
  for (const dir of searchPath.split(windows ? ";" : ":")) {
    if (dir === "") continue;
    for (const file of names) {
      const candidate = join(dir, file);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

/** `k6` → `k6.COM`, `k6.EXE`, …; a name that already ends in one of them is tried as it is first. */
function windowsNames(name: string, pathExt: string): string[] {
  const extensions = pathExt.split(";").filter((ext) => ext !== "");
  const hasOne = extensions.some((ext) => name.toLowerCase().endsWith(ext.toLowerCase()));
  return [...(hasOne ? [name] : []), ...extensions.map((ext) => `${name}${ext}`)];
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
