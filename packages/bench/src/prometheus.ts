/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the text format prom-client serves on /metrics (comments skipped). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (!match?.[1] || match[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(LABEL)) {
      if (key !== undefined && value !== undefined)
        labels[key] = value.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    const value = Number(match[3] === "+Inf" ? Infinity : match[3]);
    samples.push({ name: match[1], labels, value });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `where`. */
export function sumOf(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  let sum = 0;
  for (const s of samples) {
    if (s.name !== name) continue;
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v)) sum += s.value;
  }
  return sum;
}

/** Scrapes /metrics of every API process; the samples of all are concatenated. */
export async function scrapeMetrics(baseUrls: string[]): Promise<Sample[]> {
  const texts = await Promise.all(
    baseUrls.map(async (url) => {
      const res = await fetch(`${url}/metrics`);
      if (!res.ok) throw new Error(`GET ${url}/metrics answered ${res.status}`);
      return res.text();
    }),
  );
  return texts.flatMap(parsePrometheus);
}
