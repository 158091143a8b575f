import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { median, percentile } from './common';
import { CpuMeter, waitForQuiet, type CpuUse } from './cpu';

/** One measured scenario or baseline, HTTP or not. Latencies in milliseconds. */
export interface Measurement {
  id: string;
  label: string;
  /** `load`: concurrent loops for a fixed time; `serial`: a few timed runs one after another (the batch). */
  kind: 'load' | 'serial';
  connections: number;
  durationS: number;
  /** Completed operations (HTTP responses of any status, or finished transactions). */
  requests: number;
  rps: number;
  /** `serial`: the median run. */
  p50Ms: number;
  /** `serial`: the slowest run. */
  p99Ms: number;
  non2xx: number;
  /** Responses of a status the scenario does not expect, plus socket errors and timeouts (or failed operations). */
  unexpected: number;
  errors: number;
  statusCodes: Record<string, number>;
  /** `serial`: every run's time. */
  runsMs?: number[];
  /** CPU of the process under test per operation, and the machine's other load meanwhile. */
  cpu?: CpuUse;
}

/** The pids whose CPU time a measurement charges to what it measures (the server, or the bench itself). */
export type Subject = () => number[];
export const benchItself: Subject = () => [process.pid];

let quietWaitS = 0;
/** Before each measurement, wait up to this long for the machine's other load to calm down (0: never wait). */
export function setQuietWait(seconds: number): void {
  quietWaitS = seconds;
}

async function settle(label: string, subject: Subject): Promise<void> {
  if (quietWaitS <= 0) return;
  const started = performance.now();
  const other = await waitForQuiet(subject, quietWaitS);
  const waitedS = (performance.now() - started) / 1000;
  if (waitedS > 1.5) {
    process.stdout.write(
      `  (${label}: waited ${waitedS.toFixed(0)} s for other load to settle, now ${other.toFixed(2)} cores)\n`,
    );
  }
}

export interface LoadOptions {
  id: string;
  label: string;
  url: string;
  connections: number;
  durationS: number;
  warmupS: number;
  /** Builds each request: autocannon calls it once per request (random path, token, body). */
  setupRequest: (request: autocannon.Request) => autocannon.Request;
  /** The statuses this scenario is meant to produce; anything else counts as unexpected. */
  expect: number[];
  subject: Subject;
}

function cannon(options: autocannon.Options, onLatency?: (ms: number) => void): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    const instance = autocannon(options, (err: unknown, result: autocannon.Result) =>
      err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result),
    );
    if (onLatency) instance.on('response', (_client, _status, _bytes, ms) => onLatency(ms));
  });
}

/** autocannon for warmupS (discarded), then for durationS, recording every response's latency. */
export async function runLoad(options: LoadOptions): Promise<Measurement> {
  const base: autocannon.Options = {
    url: options.url,
    connections: options.connections,
    requests: [{ setupRequest: options.setupRequest }],
    timeout: 10,
  };
  await settle(options.label, options.subject);
  if (options.warmupS > 0) await cannon({ ...base, duration: options.warmupS });
  const latencies: number[] = [];
  const meter = new CpuMeter(options.subject);
  const result = await cannon({ ...base, duration: options.durationS }, (ms) => latencies.push(ms));
  const cpu = meter.stop(latencies.length);
  const statusCodes: Record<string, number> = {};
  let unexpected = result.errors;
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) {
    const count = stat.count ?? 0;
    statusCodes[code] = count;
    if (!options.expect.includes(Number(code))) unexpected += count;
  }
  const durationS = result.duration || options.durationS;
  return {
    id: options.id,
    label: options.label,
    kind: 'load',
    connections: options.connections,
    durationS,
    requests: latencies.length,
    rps: latencies.length / durationS,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    non2xx: result.non2xx,
    unexpected,
    errors: result.errors,
    statusCodes,
    cpu,
  };
}

export interface LoopOptions {
  id: string;
  label: string;
  concurrency: number;
  durationS: number;
  warmupS: number;
  /** One operation; `loop` is the loop's index, `n` a number unique over the whole run. */
  op: (loop: number, n: number) => Promise<void>;
  subject: Subject;
}

/** `concurrency` loops calling op back to back for warmupS (discarded), then for durationS. */
export async function runLoops(options: LoopOptions): Promise<Measurement> {
  let n = 0;
  let errors = 0;
  let firstError: unknown;
  const phase = async (seconds: number, latencies?: number[]): Promise<number> => {
    const start = performance.now();
    const deadline = start + seconds * 1000;
    const loop = async (index: number): Promise<void> => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await options.op(index, n++);
          latencies?.push(performance.now() - t0);
        } catch (err) {
          if (latencies) errors++;
          firstError ??= err;
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, (_, i) => loop(i)));
    return (performance.now() - start) / 1000;
  };
  await settle(options.label, options.subject);
  if (options.warmupS > 0) await phase(options.warmupS);
  const latencies: number[] = [];
  const meter = new CpuMeter(options.subject);
  const durationS = await phase(options.durationS, latencies);
  const cpu = meter.stop(latencies.length);
  if (latencies.length === 0) throw new Error(`${options.label}: every operation failed: ${String(firstError)}`);
  if (errors > 0) process.stderr.write(`${options.label}: ${errors} operations failed, first: ${String(firstError)}\n`);
  return {
    id: options.id,
    label: options.label,
    kind: 'load',
    connections: options.concurrency,
    durationS,
    requests: latencies.length,
    rps: latencies.length / durationS,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    non2xx: 0,
    unexpected: errors,
    errors,
    statusCodes: {},
    cpu,
  };
}

export interface SerialOptions {
  id: string;
  label: string;
  runs: number;
  /** Prepares run `run` (untimed) and returns the timed part, which resolves to an HTTP status or undefined. */
  prepare: (run: number) => Promise<() => Promise<number | undefined>>;
  expect: number[];
  subject: Subject;
}

/** One untimed warm-up run, then `runs` timed runs one after another; reports the median and the slowest. */
export async function runSerial(options: SerialOptions): Promise<Measurement> {
  await settle(options.label, options.subject);
  await (
    await options.prepare(-1)
  )();
  const runsMs: number[] = [];
  const statusCodes: Record<string, number> = {};
  let unexpected = 0;
  let errors = 0;
  const cpuRuns: CpuUse[] = [];
  for (let run = 0; run < options.runs; run++) {
    const timed = await options.prepare(run);
    const meter = new CpuMeter(options.subject);
    const t0 = performance.now();
    let status: number | undefined;
    try {
      status = await timed();
    } catch (err) {
      errors++;
      unexpected++;
      process.stderr.write(`${options.label}: run ${run} failed: ${String(err)}\n`);
      continue;
    }
    runsMs.push(performance.now() - t0);
    cpuRuns.push(meter.stop(1));
    if (status !== undefined) {
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      if (!options.expect.includes(status)) unexpected++;
    }
  }
  const totalS = runsMs.reduce((sum, ms) => sum + ms, 0) / 1000;
  return {
    id: options.id,
    label: options.label,
    kind: 'serial',
    connections: 1,
    durationS: totalS,
    requests: runsMs.length,
    rps: totalS > 0 ? runsMs.length / totalS : 0,
    p50Ms: median(runsMs),
    p99Ms: runsMs.length ? Math.max(...runsMs) : 0,
    non2xx: Object.entries(statusCodes)
      .filter(([code]) => Number(code) < 200 || Number(code) >= 300)
      .reduce((sum, [, count]) => sum + count, 0),
    unexpected,
    errors,
    statusCodes,
    runsMs,
    cpu: cpuRuns.length ? averageCpu(cpuRuns) : undefined,
  };
}

function averageCpu(runs: CpuUse[]): CpuUse {
  const mean = (pick: (c: CpuUse) => number): number => runs.reduce((sum, c) => sum + pick(c), 0) / runs.length;
  return {
    subjectUsPerOp: mean((c) => c.subjectUsPerOp),
    subjectCores: mean((c) => c.subjectCores),
    otherCores: mean((c) => c.otherCores),
  };
}

/** True when a measurement produced nothing it was meant to: the scenario is broken, not slow. */
export function completelyFailed(m: Measurement): boolean {
  const unexpectedResponses = m.unexpected - m.errors;
  return m.requests - unexpectedResponses <= 0;
}
