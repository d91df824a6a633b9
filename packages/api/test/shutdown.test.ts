import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { waitFor } from "./runMain.ts";

const FIXTURE = fileURLToPath(new URL("./fixtures/stopOnSignals.ts", import.meta.url));

/** Starts the fixture; its output lines, and a promise of its exit code. */
async function start(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", FIXTURE], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
  createInterface({ input: child.stderr }).on("line", (line) => lines.push(line));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  await waitFor(() => lines.includes("ready"), 20_000);
  return { child, lines, exited };
}

describe("stopping on signals", () => {
  it("says 'already draining' for a second Ctrl-C during the drain", async () => {
    const { child, lines, exited } = await start({ STOP_DRAIN_MS: "1500", STOP_TAIL_MS: "0" });
    child.kill("SIGINT");
    await waitFor(() => lines.some((line) => line.includes("shutting down")));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(lines.some((line) => line.includes("already draining"))).toBe(true);
  });

  it("says nothing more for a second Ctrl-C after 'coupler API stopped' (regression: 'already draining' printed after it)", async () => {
    const { child, lines, exited } = await start({ STOP_DRAIN_MS: "0", STOP_TAIL_MS: "1500" });
    child.kill("SIGINT");
    await waitFor(() => lines.some((line) => line.includes("coupler API stopped")));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    const stoppedAt = lines.findIndex((line) => line.includes("coupler API stopped"));
    expect(lines.slice(stoppedAt + 1).filter((line) => line.includes("already draining"))).toEqual([]);
  });
});
