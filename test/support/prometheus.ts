/** One sample of the Prometheus text exposition format: `name{label="value",…} 12`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of a scrape, comments left out; a line that is neither fails the test. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line of the Prometheus text format: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, raw] of (m[2] ?? '').matchAll(LABEL)) {
      labels[name] = raw.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1], labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return samples;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** The sample with exactly these labels, or undefined. */
export function sampleOf(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample | undefined {
  return samples.find((s) => s.name === name && sameLabels(s.labels, labels));
}

/** A counter's value with exactly these labels: 0 while it has not counted (prom-client shows no series yet). */
export function countOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return sampleOf(samples, name, labels)?.value ?? 0;
}
