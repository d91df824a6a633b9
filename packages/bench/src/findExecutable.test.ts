import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findExecutable } from "./findExecutable.ts";

let empty: string;
let bin: string;

beforeAll(async () => {
  empty = await mkdtemp(join(tmpdir(), "find-executable-empty-"));
  bin = await mkdtemp(join(tmpdir(), "find-executable-bin-"));
  for (const file of ["k6.EXE", "k6", "tool.cmd"]) {
    await writeFile(join(bin, file), "");
    await chmod(join(bin, file), 0o755);
  }
});
afterAll(async () => {
  await rm(empty, { recursive: true, force: true });
  await rm(bin, { recursive: true, force: true });
});

describe("findExecutable", () => {
  it("on Windows finds k6 as k6.EXE through PATHEXT, searching ';'-separated PATH in order", () => {
    expect(
      findExecutable("k6", undefined, `${empty};${bin}`, { platform: "win32", pathExt: ".COM;.EXE;.BAT;.CMD" }),
    ).toBe(join(bin, "k6.EXE"));
  });

  it("on Windows uses cmd.exe's default PATHEXT when none is set", () => {
    expect(findExecutable("k6", undefined, bin, { platform: "win32" })).toBe(join(bin, "k6.EXE"));
  });

  it("on Windows tries a name that already carries an extension as it is", () => {
    expect(findExecutable("tool.cmd", undefined, bin, { platform: "win32", pathExt: ".cmd" })).toBe(
      join(bin, "tool.cmd"),
    );
  });

  it("on Windows does not find k6 when PATHEXT lacks the extension it is installed with", () => {
    expect(findExecutable("k6", undefined, bin, { platform: "win32", pathExt: ".COM;.BAT" })).toBeUndefined();
  });

  it("elsewhere looks for the bare name on ':'-separated PATH and ignores PATHEXT", () => {
    expect(findExecutable("k6", undefined, `${empty}:${bin}`, { platform: "linux", pathExt: ".EXE" })).toBe(
      join(bin, "k6"),
    );
    expect(findExecutable("tool", undefined, bin, { platform: "linux", pathExt: ".cmd" })).toBeUndefined();
  });

  it("returns an explicit path only when it exists", () => {
    expect(findExecutable("k6", join(bin, "k6"), "")).toBe(join(bin, "k6"));
    expect(findExecutable("k6", join(empty, "k6"), bin)).toBeUndefined();
  });
});
