import { describe, expect, it } from "vitest";
import { parseMachineStat, parsePidStat } from "./procStat.ts";

// Real lines, from a postgres backend (a command name with spaces and parentheses) and from k6.
const BACKEND =
  "41237 (postgres: coupler coupler_bench 127.0.0.1(51722) idle) S 41200 41200 41200 0 -1 4194560 1893 0 0 0 1234 567 8 9 20 0 1 0 912345 231387136 5120 18446744073709551615 1 1 0 0 0 0 0 16781312 1614 0 0 0 17 1 0 0 0 0 0";
const K6 =
  "5012 (k6) S 4990 4990 4100 34816 4990 1077936384 20876 0 3 0 2500 310 0 0 20 0 9 0 1200000 1399058432 19000 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 0 0 0 0 0 0";

describe("parsePidStat", () => {
  it("reads pid, parent and the four CPU counters of a k6 process", () => {
    expect(parsePidStat(K6)).toEqual({
      pid: 5012,
      comm: "k6",
      ppid: 4990,
      utime: 2500,
      stime: 310,
      cutime: 0,
      cstime: 0,
    });
  });

  it("counts fields from the last parenthesis, so a command name with spaces and parentheses does not shift them", () => {
    expect(parsePidStat(BACKEND)).toEqual({
      pid: 41237,
      comm: "postgres: coupler coupler_bench 127.0.0.1(51722) idle",
      ppid: 41200,
      utime: 1234,
      stime: 567,
      cutime: 8,
      cstime: 9,
    });
  });

  it("refuses a line that is not a stat line", () => {
    expect(() => parsePidStat("garbage")).toThrow("not a /proc/<pid>/stat line");
    expect(() => parsePidStat("1 (init) S")).toThrow("field 4 is not a number");
  });
});

describe("parseMachineStat", () => {
  it("counts user, nice, system, irq, softirq and steal as busy, and idle and iowait as not", () => {
    const text = "cpu  1000 20 300 5000 40 5 6 7 50 0\ncpu0 500 10 150 2500 20 2 3 3 25 0\nintr 123\n";
    expect(parseMachineStat(text)).toEqual({ busy: 1000 + 20 + 300 + 5 + 6 + 7, total: 1338 + 5000 + 40, steal: 7 });
  });

  it("refuses a /proc/stat without the aggregate line", () => {
    expect(() => parseMachineStat("cpu0 1 2 3 4\n")).toThrow("no aggregate cpu line");
  });
});
