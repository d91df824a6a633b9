import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { createDatabase } from "@coupler/core";
import { createCoupler, enrolledUser, type TestDatabase } from "@coupler/testing";
import { useTestDatabase } from "@coupler/testing/vitest";
import { signToken } from "../src/auth.ts";
import { freePort, startMain, type RunningMain } from "./runMain.ts";

/*
 * The alerting rules against the real Prometheus (Debian's `prometheus`
 * package, which ships promtool; .ci/run installs it): promtool checks the
 * rules and runs their unit tests, and a Prometheus scrapes a running API with
 * two workers at its METRICS_PORT (as deploy/README.md tells operators to)
 * and evaluates every rule. Skipped, and says why, only where the
 * binaries are missing.
 */
const PROMETHEUS_DIR = fileURLToPath(new URL("../../../deploy/prometheus/", import.meta.url));
const ALERTS = join(PROMETHEUS_DIR, "alerts.yml");
const ALERT_TESTS = join(PROMETHEUS_DIR, "alerts.test.yml");
const run = promisify(execFile);

/** The program's path if it runs (`--version`), from PATH or /usr/bin (where Debian puts it). */
function binary(name: string): string | undefined {
  for (const candidate of [name, `/usr/bin/${name}`]) {
    try {
      execFileSync(candidate, ["--version"], { stdio: "ignore" });
      return candidate;
    } catch {
      // not runnable from here; try the next
    }
  }
  return undefined;
}

const promtool = binary("promtool");
const prometheus = binary("prometheus");
if (!promtool || !prometheus) {
  console.warn(
    `Prometheus tests skipped: ${!prometheus ? "prometheus" : "promtool"} not found on PATH or in /usr/bin (apt-get install prometheus; .ci/run does)`,
  );
}

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}
interface AlertTests {
  tests: { name: string; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}

async function rules(): Promise<Rule[]> {
  const file = parseYaml(await readFile(ALERTS, "utf8")) as { groups: { rules: Rule[] }[] };
  return file.groups.flatMap((g) => g.rules);
}

describe.skipIf(!promtool)("deploy/prometheus/alerts.yml under promtool", () => {
  it("passes promtool check rules, which finds every rule of the file", async () => {
    const { stdout } = await run(promtool ?? "promtool", ["check", "rules", ALERTS]);
    expect(stdout).toContain(`SUCCESS: ${(await rules()).length} rules found`);
  });

  it("passes its unit tests (alerts.test.yml), which show every alert firing once and staying quiet once", async () => {
    const { stdout } = await run(promtool ?? "promtool", ["test", "rules", ALERT_TESTS], { cwd: PROMETHEUS_DIR });
    expect(stdout).toContain("SUCCESS");

    const checks = (parseYaml(await readFile(ALERT_TESTS, "utf8")) as AlertTests).tests.flatMap(
      (t) => t.alert_rule_test,
    );
    for (const { alert } of await rules()) {
      if (alert === undefined) continue;
      const mine = checks.filter((c) => c.alertname === alert);
      expect(
        mine.some((c) => c.exp_alerts.length > 0),
        `${alert} has no test in which it fires`,
      ).toBe(true);
      expect(
        mine.some((c) => c.exp_alerts.length === 0),
        `${alert} has no test in which it stays quiet`,
      ).toBe(true);
    }
  });
});

interface QueryResponse {
  status: "success" | "error";
  error?: string;
  data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}
interface RulesResponse {
  data: { groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[] };
}

describe.skipIf(!prometheus)("a real Prometheus scraping the API with API_WORKERS=2 at its METRICS_PORT", () => {
  let database: TestDatabase;
  let main: RunningMain;
  let server: ChildProcess | undefined;
  let dir: string;
  let base: string;
  const output: string[] = [];

  beforeAll(async () => {
    database = await useTestDatabase();
    const setup = createDatabase({ connectionString: database.url, max: 2 });
    const userId = await enrolledUser(setup, createCoupler(setup));
    await setup.close();
    const secret = randomBytes(32).toString("hex");
    main = await startMain({ DATABASE_URL: database.url, AUTH_SECRET: secret, API_WORKERS: "2", METRICS_PORT: "0" });
    const token = await signToken({ sub: 1, role: "instructor" }, secret, { expiresIn: "5m" });
    for (let i = 0; i < 6; i++) {
      const res = await fetch(`${main.url}/trpc/progression.levelUp`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}`, connection: "close" },
        body: JSON.stringify({ userId, specialization: "PLAYER", xpGained: 10, sessionsCompleted: 1 }),
      });
      expect(res.status).toBe(200);
    }

    dir = await mkdtemp(join(tmpdir(), "coupler-prometheus-"));
    const config = join(dir, "prometheus.yml");
    await writeFile(
      config,
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        `rule_files: [${JSON.stringify(ALERTS)}]`,
        "scrape_configs:",
        "  - job_name: coupler",
        `    static_configs: [{ targets: [${JSON.stringify(new URL(main.metricsUrl).host)}] }]`,
        "",
      ].join("\n"),
    );
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    server = spawn(
      prometheus ?? "prometheus",
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    server.stdout?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
    server.stderr?.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  }, 60_000);

  afterAll(async () => {
    server?.kill("SIGTERM");
    main?.child.kill("SIGTERM");
    await main?.exited;
    if (dir) await rm(dir, { recursive: true, force: true });
    await database?.drop();
  });

  async function query(expr: string): Promise<QueryResponse> {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await res.json()) as QueryResponse;
  }
  async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`condition not met in time; Prometheus said:\n${output.join("")}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it("scrapes the API as up at its METRICS_PORT, both workers answering, the calls of both counted and the database ready", async () => {
    expect(new URL(main.metricsUrl).port).not.toBe(new URL(main.url).port);
    await eventually(async () => (await query('up{job="coupler"}')).data.result[0]?.value[1] === "1");
    const missing = await query('coupler_metrics_workers_missing{job="coupler"}');
    expect(missing.data.result.map((r) => r.value[1])).toEqual(["0"]);
    await eventually(
      async () =>
        (await query('sum(coupler_operations_total{job="coupler", operation="levelUp"})')).data.result[0]?.value[1] ===
        "6",
    );
    expect((await query('coupler_ready{job="coupler"}')).data.result.map((r) => r.value[1])).toEqual(["1"]);
  }, 40_000);

  it("evaluates every rule of alerts.yml without error, through its query API and its rule manager", async () => {
    const all = await rules();
    for (const rule of all) {
      const answer = await query(rule.expr);
      expect(answer.status, `${rule.alert ?? rule.record}: ${answer.error ?? ""}`).toBe("success");
    }
    // The rule manager has evaluated each rule at least once, and none reported an error.
    let evaluated: RulesResponse["data"]["groups"][number]["rules"] = [];
    await eventually(async () => {
      const body = (await (await fetch(`${base}/api/v1/rules`)).json()) as RulesResponse;
      evaluated = body.data.groups.flatMap((g) => g.rules);
      return evaluated.length === all.length && evaluated.every((r) => !r.lastEvaluation.startsWith("0001-"));
    });
    expect(evaluated.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.lastError ?? r.health}`)).toEqual([]);
    // With the API up and its database reachable, the alerts on either stay quiet.
    const firing = (await query('ALERTS{alertstate="firing"}')).data.result.map((r) => r.metric.alertname);
    expect(firing).not.toContain("CouplerDown");
    expect(firing).not.toContain("CouplerDatabaseUnreachable");
  }, 40_000);
});
