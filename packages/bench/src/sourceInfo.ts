import { execFile } from "node:child_process";
import { promisify } from "node:util";

const exec = promisify(execFile);

/**
 * The git commit a bench measured, and whether its working tree had
 * uncommitted changes (then the figures are not that commit's alone).
 * Nulls where `dir` is not a git checkout or git is missing.
 */
export async function sourceInfo(dir: string): Promise<{ commit: string | null; dirty: boolean | null }> {
  const git = (args: string[]) =>
    exec("git", ["-C", dir, ...args]).then(
      ({ stdout }) => stdout,
      () => undefined,
    );
  const [head, status] = await Promise.all([git(["rev-parse", "HEAD"]), git(["status", "--porcelain"])]);
  return { commit: head?.trim() || null, dirty: status === undefined ? null : status.trim() !== "" };
}
