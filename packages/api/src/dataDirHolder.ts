import { readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Who holds an embedded PostgreSQL data directory, as one line for the
 * operator, or undefined when it is free. PostgreSQL writes its PID on the
 * first line of `postmaster.pid` and removes the file on a clean stop; a file
 * whose PID is no longer running is stale (PostgreSQL itself starts over it),
 * so only a live PID counts. Where /proc exists the line also names the
 * process that started that server (the other `pnpm start`). Issue 17: a
 * second `pnpm start` in the same checkout died with a JSON stack trace that
 * buried "postmaster.pid already exists".
 */
export async function dataDirHolder(dataDir: string): Promise<string | undefined> {
  let pid: number;
  try {
    pid = Number((await readFile(join(dataDir, "postmaster.pid"), "utf8")).split("\n", 1)[0]);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isRunning(pid)) return undefined;
  const parent = await parentOf(pid);
  const by = parent ? `, started by PID ${parent.pid}${parent.command ? ` (${parent.command})` : ""}` : "";
  return `another coupler is running with data dir ${dataDir}: its PostgreSQL is PID ${pid}${by}. Stop it first, or set COUPLER_DATA_DIR (or DATABASE_URL) to use another database.`;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user (the `postgres` user, when run as root).
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The parent PID and command line of `pid`, from /proc (Linux); undefined elsewhere. */
async function parentOf(pid: number): Promise<{ pid: number; command: string } | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the parenthesised command name: state, ppid, …
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (!Number.isInteger(ppid) || ppid <= 1) return undefined;
    const command = (await readFile(`/proc/${ppid}/cmdline`, "utf8").catch(() => ""))
      .split("\0")
      .filter(Boolean)
      .join(" ");
    return { pid: ppid, command: command.length > 80 ? `${command.slice(0, 77)}...` : command };
  } catch {
    return undefined;
  }
}
