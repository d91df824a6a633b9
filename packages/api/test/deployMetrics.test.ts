import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { expectTRPCError, startTestApi, type TestApi } from "./harness.ts";
import { headingAnchors } from "./markdown.ts";

const DEPLOY = new URL("../../../deploy/", import.meta.url);

/** Functions, aggregations and keywords of PromQL: names in an expression that are not metrics. */
const PROMQL_WORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
  "sum",
  "min",
  "max",
  "avg",
  "count",
  "stddev",
  "stdvar",
  "topk",
  "bottomk",
  "quantile",
  "count_values",
  "group",
  "rate",
  "irate",
  "increase",
  "delta",
  "idelta",
  "deriv",
  "histogram_quantile",
  "absent",
  "absent_over_time",
  "time",
  "vector",
  "scalar",
  "abs",
  "ceil",
  "floor",
  "round",
  "clamp_min",
  "clamp_max",
  "label_replace",
  "avg_over_time",
  "max_over_time",
  "min_over_time",
  "sum_over_time",
  "changes",
  "resets",
  "timestamp",
  "inf",
  "nan",
]);

/** Series Prometheus itself attaches to every target; the API cannot export them. */
const SCRAPE_SERIES = new Set(["up"]);

/**
 * The metric names a PromQL expression reads. Removes what can hold other
 * identifiers (string literals, Grafana `$variables`, label matchers `{…}`,
 * range and offset `[…]`, the label lists of by/without/on/ignoring/group_*),
 * then keeps every identifier that is neither a PromQL word nor called like
 * a function.
 */
function metricNames(expr: string): Set<string> {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, " ")
    .replace(/\$\{[^}]*\}|\$\w+/g, " ")
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = new Set<string>();
  for (const match of stripped.matchAll(/(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?/g)) {
    const [, name, call] = match;
    if (name === undefined || call !== undefined || PROMQL_WORDS.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return names;
}

/**
 * The series names an exposition text can carry: each `# TYPE` family, and
 * for histograms and summaries its `_bucket`, `_sum` and `_count` series.
 * A query of `x_count` is satisfied by a histogram `x` or a gauge `x_count`.
 */
function exportedSeries(exposition: string): Set<string> {
  const series = new Set<string>();
  for (const [, family, type] of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    if (family === undefined) continue;
    series.add(family);
    if (type === "histogram") for (const suffix of ["_bucket", "_sum", "_count"]) series.add(family + suffix);
    if (type === "summary") for (const suffix of ["_sum", "_count"]) series.add(family + suffix);
  }
  return series;
}

interface Dashboard {
  __inputs: { name: string; pluginId: string }[];
  panels: { title: string; type: string; datasource?: { uid: string }; targets?: { expr: string }[] }[];
}
interface RuleFile {
  groups: {
    name: string;
    rules: { alert: string; expr: string; for?: string; annotations?: Record<string, string> }[];
  }[];
}

async function deployFile(path: string): Promise<string> {
  return readFile(new URL(path, DEPLOY), "utf8");
}

/** Every PromQL expression of the dashboard's panels and the alerting rules, named for failure messages. */
async function deployExpressions(): Promise<{ where: string; expr: string }[]> {
  const dashboard = JSON.parse(await deployFile("grafana/coupler.json")) as Dashboard;
  const rules = parseYaml(await deployFile("prometheus/alerts.yml")) as RuleFile;
  return [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr }))),
    ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
  ];
}

describe("metricNames", () => {
  it("finds metrics bare, before { and before [, and not functions, keywords, labels, strings or variables", () => {
    const expr = `histogram_quantile(0.95, sum by (le, operation) (rate(coupler_lock_wait_seconds_bucket{job=~"$job", code="DB"}[$__rate_interval])))
      / on (instance) group_left (version) build_info or absent(up{job="coupler"}) > bool 0 unless process_start_time_seconds offset 5m
      + max without (check) (orphan_record_count) - time()`;
    expect([...metricNames(expr)].sort()).toEqual([
      "build_info",
      "coupler_lock_wait_seconds_bucket",
      "orphan_record_count",
      "process_start_time_seconds",
      "up",
    ]);
  });

  it("reports a misspelt metric, so a wrong name in a dashboard cannot pass", () => {
    const exported = exportedSeries(
      "# TYPE coupler_lock_wait_seconds histogram\n# TYPE progress_license_desync_count gauge\n",
    );
    const names = metricNames(
      "rate(coupler_lock_wait_second_bucket[5m]) + progress_license_desync_count + coupler_lock_wait_seconds_count",
    );
    expect([...names].filter((n) => !exported.has(n))).toEqual(["coupler_lock_wait_second_bucket"]);
  });
});

describe("deploy/: the Grafana dashboard and the Prometheus alerts", () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it("is a dashboard importable with a ${DS_PROMETHEUS} input, and rules with the alerts the README describes", async () => {
    const dashboard = JSON.parse(await deployFile("grafana/coupler.json")) as Dashboard;
    expect(dashboard.__inputs).toEqual([expect.objectContaining({ name: "DS_PROMETHEUS", pluginId: "prometheus" })]);
    for (const panel of dashboard.panels.filter((p) => p.type !== "row"))
      expect(panel.datasource?.uid, panel.title).toBe("${DS_PROMETHEUS}");
    const rules = parseYaml(await deployFile("prometheus/alerts.yml")) as RuleFile;
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
    const readme = await deployFile("README.md");
    for (const alert of alerts) expect(readme, `deploy/README.md does not explain ${alert}`).toContain(`\`${alert}\``);
    expect(rules.groups.flatMap((g) => g.rules).find((r) => r.alert === "CouplerDesyncedPairs")?.for).toBe("1m");
  });

  it("gives every alert a runbook_url that points at its own entry of deploy/README.md", async () => {
    const rules = parseYaml(await deployFile("prometheus/alerts.yml")) as RuleFile;
    const anchors = headingAnchors(await deployFile("README.md"));
    for (const rule of rules.groups.flatMap((g) => g.rules)) {
      const anchor = `${rule.alert.toLowerCase()}`;
      expect(rule.annotations?.runbook_url, rule.alert).toBe(`deploy/README.md#${anchor}`);
      expect(anchors.has(anchor), `deploy/README.md has no heading for ${rule.alert}`).toBe(true);
    }
  });

  it("tells operators, in the desync runbook, to repair the pairs before switching the guard on", async () => {
    const readme = await deployFile("README.md");
    const entry = readme.slice(readme.indexOf("### CouplerDesyncedPairs"), readme.indexOf("### CouplerOrphanRecords"));
    expect(entry.indexOf("progression.sync")).toBeGreaterThan(0);
    expect(entry.indexOf("progression.sync")).toBeLessThan(entry.indexOf("admin.setGuard"));
    expect(entry).toMatch(/refused/);
  });

  it("queries only metrics the running API exports on /metrics", async () => {
    // Drive a few calls so the labelled series have samples, as in production.
    const admin = await api.client("admin");
    const instructor = await api.client("instructor");
    const { id } = await admin.users.create.mutate({
      name: "Dashboard Learner",
      email: `dashboard-${Date.now()}@example.com`,
    });
    await admin.progression.enroll.mutate({ userId: id, specialization: "PLAYER" });
    await instructor.progression.levelUp.mutate({
      userId: id,
      specialization: "PLAYER",
      xpGained: 150,
      sessionsCompleted: 1,
    });
    await expectTRPCError(
      instructor.progression.levelUp.mutate({ userId: id, specialization: "COACH", xpGained: 1, sessionsCompleted: 1 }),
      "NOT_FOUND",
    );

    const res = await fetch(`${api.url}/metrics`);
    const exported = exportedSeries(await res.text());
    const expressions = await deployExpressions();
    const used = new Map<string, string>();
    for (const { where, expr } of expressions)
      for (const name of metricNames(expr)) used.set(name, used.get(name) ?? where);

    // Every metric family the API defines is on the dashboard or in an alert; the extractor did its job.
    expect(used.size).toBeGreaterThanOrEqual(10);
    const missing = [...used]
      .filter(([name]) => !exported.has(name) && !SCRAPE_SERIES.has(name))
      .map(([name, where]) => `${name} (${where})`);
    expect(missing).toEqual([]);
    expect(exported.has("coupler_lock_wait_seconds_bucket")).toBe(true);
  });
});
