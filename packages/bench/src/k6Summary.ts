import { z } from "zod";
import type { LatencyStats } from "./latencyStats.ts";

/** The part of k6's handleSummary data the bench reads (k6 0.48 and newer). */
const metricSchema = z.object({
  type: z.string(),
  values: z.record(z.string(), z.number()),
  thresholds: z.record(z.string(), z.object({ ok: z.boolean() })).optional(),
});

const summarySchema = z.object({
  state: z.object({ testRunDurationMs: z.number() }),
  metrics: z.record(z.string(), metricSchema),
});

export type K6Summary = z.infer<typeof summarySchema>;

export class K6SummaryError extends Error {
  override name = "K6SummaryError";
}

export function parseK6Summary(json: unknown): K6Summary {
  const parsed = summarySchema.safeParse(json);
  if (!parsed.success) {
    throw new K6SummaryError(
      `not a k6 summary: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}

/** What one operation did during a run's steady phase (after the ramp-up). */
export interface OperationResult {
  latency: LatencyStats;
  requests: number;
  /** Requests per second over the steady phase. */
  throughput: number;
  failed: number;
  errorRate: number;
  thresholds: { metric: string; expression: string; ok: boolean }[];
}

/**
 * Reads one operation's steady-phase figures from a summary. The scenarios put
 * thresholds on `{operation:X,phase:steady}` sub-metrics, which is what makes
 * k6 export them.
 */
export function operationResult(summary: K6Summary, operation: string, steadySeconds: number): OperationResult {
  const tag = `{operation:${operation},phase:steady}`;
  const duration = metric(summary, `http_req_duration${tag}`);
  const reqs = metric(summary, `http_reqs${tag}`);
  const failed = metric(summary, `http_req_failed${tag}`);
  const requests = reqs.values.count ?? 0;
  const failures = failed.values.passes ?? 0; // http_req_failed is a Rate: a "pass" is a failed request
  const thresholds = Object.entries(summary.metrics).flatMap(([name, m]) =>
    Object.entries(m.thresholds ?? {}).map(([expression, t]) => ({ metric: name, expression, ok: t.ok })),
  );
  return {
    latency: {
      count: duration.values.count ?? requests,
      avg: duration.values.avg ?? 0,
      p50: duration.values.med ?? 0,
      p95: duration.values["p(95)"] ?? 0,
      p99: duration.values["p(99)"] ?? 0,
      max: duration.values.max ?? 0,
    },
    requests,
    throughput: steadySeconds > 0 ? requests / steadySeconds : 0,
    failed: failures,
    errorRate: failed.values.rate ?? 0,
    thresholds,
  };
}

function metric(summary: K6Summary, name: string) {
  const m = summary.metrics[name];
  if (!m) throw new K6SummaryError(`the k6 summary has no metric ${name}; did the scenario define its thresholds?`);
  return m;
}
