import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Settings } from './common';
import type { Measurement } from './load';
import type { MemoryReport } from './processes';
import type { StalenessResult } from './staleness';

// ---- what a run produced --------------------------------------------------------------------------------

export interface Machine {
  cpuModel: string;
  cores: number;
  ramGiB: number;
  os: string;
  node: string;
  database: string;
  /** The commit the service was built from, and whether src/ or db/ had uncommitted changes. */
  commit: string;
}

export interface ServiceRun {
  workers: number;
  scenarios: Measurement[];
  memory: MemoryReport;
  /** Scenarios that threw instead of producing a measurement. */
  failures: { id: string; error: string }[];
}

export interface Row {
  run: string;
  measurement: Measurement;
  baseline?: string;
  /** Throughput: service ÷ baseline (higher is better). Time (the batch): service ÷ baseline (lower is better). */
  ratio?: number;
  /** The same against further baselines, for scenarios that name some (`also`). */
  more?: { baseline: string; ratio: number }[];
}

export interface Target {
  workers: number;
  name: string;
  actual: string;
  pass: boolean;
}

export interface BenchReport {
  mode: 'full' | 'quick' | 'profile';
  startedAt: string;
  finishedAt: string;
  machine: Machine;
  settings: Settings;
  baselines: Measurement[];
  runs: ServiceRun[];
  /** Eventual reads on one instance of what another writes (bench/staleness.ts); not in profile mode. */
  staleness?: StalenessResult;
  rows: Row[];
  /** Full mode only: the issue's targets, per worker count. */
  targets: Target[];
}

/** Call at start, right after `make` built dist/: src/ may change while the bench runs. */
export function describeCommit(root: string): string {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
    const head = git('rev-parse', '--short', 'HEAD');
    return git('status', '--porcelain', '--', 'src', 'db') ? `${head} + uncommitted changes in src/ or db/` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

export function describeMachine(databaseVersion: string, commit: string): Machine {
  let cpuModel = os.cpus()[0]?.model ?? 'unknown';
  try {
    const line = fs
      .readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.split(':')[1].trim();
  } catch {
    // not Linux: os.cpus() it is
  }
  return {
    cpuModel,
    cores: os.availableParallelism(),
    ramGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    database: databaseVersion,
    commit,
  };
}

// ---- scenarios against their baselines ------------------------------------------------------------------

interface Bound {
  baseline: string;
  kind: 'throughput' | 'time';
  /** The target's minimum (throughput) or maximum (time) ratio, if the issue sets one. */
  target?: number;
  /** Further baselines to give the ratio to, without a target. */
  also?: string[];
}

/** Which baseline bounds each scenario; `mix` is bounded by the two baselines of its parts, blended. */
const BOUNDS: Record<string, Bound> = {
  'get-hit': { baseline: 'bare-select', kind: 'throughput', target: 1.2 },
  'get-eventual': { baseline: 'bare-select', kind: 'throughput', target: 1.8, also: ['bare-http-hello'] },
  'get-eventual-200': { baseline: 'bare-select', kind: 'throughput', also: ['bare-http-hello'] },
  'get-miss': { baseline: 'bare-select-miss', kind: 'throughput' },
  'post-create': { baseline: 'raw-write-100', kind: 'throughput', target: 0.7 },
  'post-overwrite': { baseline: 'raw-write-1', kind: 'throughput', target: 0.7 },
  mix: { baseline: 'mix-blend', kind: 'throughput' },
  'batch-4mb': { baseline: 'raw-batch', kind: 'time', target: 1.2 },
  'list-1000': { baseline: 'raw-list-1000', kind: 'throughput' },
  'batch-get-100': { baseline: 'raw-batch-get-100', kind: 'throughput' },
  'post-if-match': { baseline: 'raw-write-if-match', kind: 'throughput' },
  'get-hit-200': { baseline: 'bare-select', kind: 'throughput' },
};

const RSS_LIMIT_MB = 200;

/**
 * The mix's bound: each request costs what its baseline costs, 90 % bare Express + point select and 10 %
 * mysql2 calls of the write procedure (creates across 100 tenants): 1 / (0.9 / select + 0.1 / write).
 */
function blend(baselines: Map<string, Measurement>, readShare: number): Measurement | undefined {
  const read = baselines.get('bare-select');
  const write = baselines.get('raw-write-100');
  if (!read || !write || read.rps === 0 || write.rps === 0) return undefined;
  const rps = 1 / (readShare / read.rps + (1 - readShare) / write.rps);
  return { ...read, id: 'mix-blend', label: 'blend: 90 % bare select, 10 % mysql2 write procedure', rps };
}

function ratioOf(m: Measurement, bound: Bound, base: Measurement | undefined): number | undefined {
  if (!base || m.requests === 0) return undefined;
  if (bound.kind === 'time') return base.p50Ms > 0 ? m.p50Ms / base.p50Ms : undefined;
  return base.rps > 0 ? m.rps / base.rps : undefined;
}

export function buildReport(input: {
  mode: BenchReport['mode'];
  startedAt: Date;
  machine: Machine;
  settings: Settings;
  baselines: Measurement[];
  runs: ServiceRun[];
  staleness?: StalenessResult;
}): BenchReport {
  const byId = new Map(input.baselines.map((b) => [b.id, b]));
  const mix = blend(byId, input.settings.mixReadShare);
  if (mix) byId.set(mix.id, mix);
  const rows: Row[] = [];
  const targets: Target[] = [];
  for (const run of input.runs) {
    const label = `service, WEB_CONCURRENCY=${run.workers}`;
    const ratios = new Map<string, number | undefined>();
    for (const m of run.scenarios) {
      const bound = BOUNDS[m.id];
      const base = bound ? byId.get(bound.baseline) : undefined;
      const ratio = bound ? ratioOf(m, bound, base) : undefined;
      ratios.set(m.id, ratio);
      const more = (bound?.also ?? []).flatMap((id) => {
        const other = byId.get(id);
        const r = other ? ratioOf(m, bound as Bound, other) : undefined;
        return other && r !== undefined ? [{ baseline: other.label, ratio: r }] : [];
      });
      rows.push({ run: label, measurement: m, baseline: base?.label, ratio, ...(more.length ? { more } : {}) });
    }
    if (input.mode !== 'full') continue;
    for (const [id, bound] of Object.entries(BOUNDS)) {
      if (bound.target === undefined) continue;
      const scenario = run.scenarios.find((m) => m.id === id);
      const ratio = ratios.get(id);
      const base = byId.get(bound.baseline);
      const op = bound.kind === 'time' ? '≤' : '≥';
      targets.push({
        workers: run.workers,
        name: `${scenario?.label ?? id} ${op} ${bound.target} × ${base?.label ?? bound.baseline}`,
        actual: ratio === undefined ? 'no measurement' : `${ratio.toFixed(2)} ×`,
        pass: ratio !== undefined && (bound.kind === 'time' ? ratio <= bound.target : ratio >= bound.target),
      });
    }
    const offenders = run.scenarios.filter((m) => m.unexpected > 0);
    const failed = run.failures.map((f) => f.id);
    targets.push({
      workers: run.workers,
      name: `zero non-2xx responses in every scenario, also at ${input.settings.highConnections} connections (GET miss: nothing but its expected 404s)`,
      actual:
        offenders.length + failed.length === 0
          ? '0'
          : [...offenders.map((m) => `${m.label}: ${m.unexpected}`), ...failed.map((id) => `${id}: failed`)].join('; '),
      pass: offenders.length === 0 && failed.length === 0,
    });
    targets.push({
      workers: run.workers,
      name: `peak RSS of a worker under load ≤ ${RSS_LIMIT_MB} MB`,
      actual: `${run.memory.workerPeakMb.toFixed(0)} MB`,
      pass: run.memory.workerPeakMb > 0 && run.memory.workerPeakMb <= RSS_LIMIT_MB,
    });
  }
  const st = input.staleness;
  if (input.mode === 'full' && st) {
    targets.push({
      workers: input.settings.defaultWorkers,
      name: `eventual reads on instance B of what A writes (${st.writesPerS.toFixed(0)} writes/s): no answer staler than CACHE_MAX_STALENESS_MS (${st.boundMs} ms)`,
      actual: `stalest ${st.stalestMs.toFixed(0)} ms, ${st.overBound} over the bound, ${st.failed} failed`,
      pass: st.overBound === 0 && st.failed === 0 && st.reads > 0,
    });
  }
  for (const b of input.baselines) rows.push({ run: 'baseline', measurement: b });
  return {
    mode: input.mode,
    startedAt: input.startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: input.machine,
    settings: input.settings,
    baselines: input.baselines,
    runs: input.runs,
    ...(st ? { staleness: st } : {}),
    rows,
    targets,
  };
}

// ---- text -----------------------------------------------------------------------------------------------

const ms = (value: number): string =>
  value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);

function cells(row: Row): string[] {
  const m = row.measurement;
  const serial = m.kind === 'serial';
  const ratio = [
    ...(row.ratio === undefined ? [] : [`${row.ratio.toFixed(2)} × ${serial ? '(time) ' : ''}${row.baseline ?? ''}`]),
    ...(row.more ?? []).map((m) => `${m.ratio.toFixed(2)} × ${m.baseline}`),
  ].join('; ');
  return [
    row.run,
    serial ? `${m.label}, median of ${m.requests}` : m.label,
    String(m.connections),
    serial ? m.rps.toFixed(2) : m.rps.toFixed(0),
    ms(m.p50Ms),
    serial ? `${ms(m.p99Ms)} (max)` : ms(m.p99Ms),
    String(m.non2xx),
    String(m.unexpected),
    m.cpu ? m.cpu.subjectUsPerOp.toFixed(0) : '',
    m.cpu ? m.cpu.otherCores.toFixed(2) : '',
    ratio,
  ];
}

const HEADER = [
  'run',
  'scenario',
  'conns',
  'req/s',
  'p50 ms',
  'p99 ms',
  'non-2xx',
  'unexpected',
  'CPU µs/op',
  'other load',
  'ratio to baseline',
];
const RIGHT_ALIGNED = new Set([2, 3, 4, 5, 6, 7, 8, 9]);

export function formatTable(report: BenchReport): string {
  const body = report.rows.map(cells);
  const widths = HEADER.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]): string =>
    r.map((c, i) => (RIGHT_ALIGNED.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  const out = [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  ')];
  let previous = '';
  for (let i = 0; i < body.length; i++) {
    if (report.rows[i].run !== previous && previous !== '') out.push('');
    previous = report.rows[i].run;
    out.push(line(body[i]));
  }
  return out.join('\n');
}

export function formatMemory(report: BenchReport): string {
  return report.runs
    .map((run) => {
      const procs = run.memory.processes
        .map((p) => `${p.role} ${p.pid}: peak RSS ${p.peakRssMb.toFixed(0)} MB, VmHWM ${p.hwmMb.toFixed(0)} MB`)
        .join('; ');
      const perScenario = Object.entries(run.memory.byScenario)
        .map(([id, mb]) => `${id} ${mb.toFixed(0)}`)
        .join(', ');
      return `WEB_CONCURRENCY=${run.workers}: ${procs}\n  worker RSS by scenario (MB): ${perScenario}`;
    })
    .join('\n');
}

/** The staleness measurement in one paragraph (empty without one). */
export function formatStaleness(report: BenchReport): string {
  const st = report.staleness;
  if (!st) return '';
  const f = (ms: number): string => ms.toFixed(1);
  return (
    `\nstaleness, two instances (WEB_CONCURRENCY=${report.settings.defaultWorkers} each): ${st.writes} writes through A ` +
    `(${st.writesPerS.toFixed(0)}/s), ${st.reads} eventual reads through B (${(st.cachedShare * 100).toFixed(0)} % ` +
    `from its cache)${st.failed ? `, ${st.failed} failed` : ''}\n` +
    `  acknowledged on A → seen on B: p50 ${f(st.delay.p50)} ms, p99 ${f(st.delay.p99)} ms, max ${f(st.delay.max)} ms; ` +
    `stalest answer ${f(st.stalestMs)} ms (bound ${st.boundMs} ms, ${st.overBound} over it)`
  );
}

export function formatTargets(report: BenchReport): string {
  return report.targets
    .map((t) => `${t.pass ? 'PASS' : 'FAIL'}  WEB_CONCURRENCY=${t.workers}  ${t.name}: ${t.actual}`)
    .join('\n');
}

export function formatMachine(report: BenchReport): string {
  const m = report.machine;
  return (
    `${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.os}; node ${m.node}; ${m.database}; ` +
    `WEB_CONCURRENCY ${report.runs.map((r) => r.workers).join(' and ')}; service built from ${m.commit}`
  );
}

// ---- files ----------------------------------------------------------------------------------------------

const escapeCell = (text: string): string => text.replace(/\|/g, '\\|');

function markdownTable(header: string[], rows: string[][]): string {
  return [
    `| ${header.map(escapeCell).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(escapeCell).join(' | ')} |`),
  ].join('\n');
}

export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const s = report.settings;
  const workerCounts = report.runs.map((r) => r.workers);
  const targetNames = [...new Set(report.targets.map((t) => t.name))];
  const targetRows = targetNames.map((name) => [
    name,
    ...workerCounts.map((w) => {
      const t = report.targets.find((x) => x.name === name && x.workers === w);
      return t ? `${t.pass ? '**PASS**' : '**FAIL**'} ${t.actual}` : '';
    }),
  ]);
  const memoryRows = report.runs.flatMap((run) =>
    run.memory.processes.map((p) => [String(run.workers), p.role, p.peakRssMb.toFixed(0), p.hwmMb.toFixed(0)]),
  );
  return `# Benchmarks

This file is written by \`make bench\` (bench/report.ts): edit the generator, not the file. It is the record of the
figures; the raw numbers of each run are written to \`bench/results/\`, which git ignores.

- \`make bench\`: the full run, about six minutes. Prints the table and the targets, writes
  \`bench/results/<timestamp>.json\`, \`bench/results/latest.json\` and this file.
- \`make bench QUICK=1\`: every scenario for one second, no targets, nothing written (CI runs it so that the
  benchmark never rots). It fails only when something is broken: the service does not start, or a scenario gets
  no expected answer at all.
- \`make bench PROFILE=1\`: WEB_CONCURRENCY=1 under \`node --cpu-prof\`, one service start per scenario (each
  process writes a \`.cpuprofile\` under \`bench/results/profiles/\`), then the top 25 self-time frames of the
  worker's profile for each.
- \`BENCH_DATABASE_URL\` picks the server (default \`${'mysql://root@127.0.0.1:3306'}\`): the bench creates a fresh
  database \`tenantkv_bench_<random>\` on it and drops it at the end. A URL that names a database uses that one
  and leaves it in place.

## Machine

${markdownTable(
  ['run started (UTC)', 'commit', 'CPU', 'cores', 'RAM', 'OS', 'node', 'database', 'WEB_CONCURRENCY'],
  [
    [
      report.startedAt.slice(0, 16).replace('T', ' '),
      m.commit,
      m.cpuModel,
      String(m.cores),
      `${m.ramGiB} GiB`,
      m.os,
      m.node,
      m.database,
      workerCounts.map((w) => (w === s.defaultWorkers ? `${w} (default: the number of CPUs)` : String(w))).join(', '),
    ],
  ],
)}

The database, the service, the load generator (autocannon, in the bench's process) and the baselines share these
cores.

## Results

${s.connections} connections for ${s.durationS} s after a ${s.warmupS} s warm-up, unless the row says otherwise.
_Ratio_ is throughput ÷ the baseline's throughput, except for the batch, where it is the median time ÷ the
baseline's median time (lower is better). _Unexpected_ counts responses other than the scenario's expected status
(GET miss expects 404) plus socket errors. _CPU µs/op_ is the CPU time (user + system, from \`/proc/<pid>/stat\`)
the process under test spent per request or transaction: the service's processes (primary and workers), the bare
Express process, or the bench itself for the mysql2 baselines; on a shared machine it is steadier than req/s.
_Other load_ is how many cores everything else on the machine kept busy meanwhile (not the bench, the process
under test or the database): when it is well above 0, other work competed for the CPUs and the row is noisy.

${markdownTable(HEADER, report.rows.map(cells))}

## Targets

${
  report.targets.length
    ? markdownTable(['target', ...workerCounts.map((w) => `WEB_CONCURRENCY=${w}`)], targetRows)
    : '_Targets are checked in full mode only._'
}

## Memory

VmRSS sampled every 200 ms from \`/proc/<pid>/status\` of the service and of each cluster worker, and VmHWM (the
kernel's peak) read at the end of the run. The primary only supervises: it forks the workers, one included.

${markdownTable(['WEB_CONCURRENCY', 'process', 'peak RSS sampled (MB)', 'VmHWM (MB)'], memoryRows)}

## Staleness of eventual reads

${
  report.staleness
    ? markdownTable(
        [
          'writes/s through A',
          'eventual reads through B',
          'from B’s cache',
          'acknowledged → seen p50 / p99 / max (ms)',
          'stalest answer (ms)',
          'over the bound',
        ],
        [
          [
            report.staleness.writesPerS.toFixed(0),
            String(report.staleness.reads),
            `${(report.staleness.cachedShare * 100).toFixed(0)} %`,
            [report.staleness.delay.p50, report.staleness.delay.p99, report.staleness.delay.max]
              .map((v) => v.toFixed(1))
              .join(' / '),
            report.staleness.stalestMs.toFixed(0),
            `${report.staleness.overBound} (bound ${report.staleness.boundMs} ms)`,
          ],
        ],
      )
    : '_Not measured in this mode._'
}

Two more instances on the same database, WEB_CONCURRENCY=${s.defaultWorkers} each and default settings
(CHANGE_POLL_MS 100, CACHE_MAX_STALENESS_MS 1000): ${s.stalenessRate} writes/s through A for ${s.stalenessS} s
across 20 keys of 10 tenants, while 16 connections read the same keys through B with \`?consistency=eventual\` as
fast as they are answered. _Acknowledged → seen_: from a write's acknowledgement on A to the first read on B sent
after it that shows it (or a later version). _Stalest answer_: over every answer, how long the oldest write it did
not show had been acknowledged when the read was sent.

## What each row measures

- **Setup**: the service starts as \`make run\` does (\`node dist/src/server.js\`, NODE_ENV=production, LOG_LEVEL
  info with its log in a file, a random JWT_SECRET_KEY). ${s.tenants} tenants register and log in through the API
  with ${s.capacityBytes / 1024 ** 3} GiB each (the self-registration ceiling); ${s.tenants * s.keysPerTenant} keys of
  ${s.valueBytes}-byte values are preloaded with \`POST /api/batch/object\`, ${s.keysPerTenant} per tenant. Both worker
  counts use the same database and tenants; the service restarts between them.
- **GET hit / GET miss**: a random preloaded (or absent) key of a random tenant, with that tenant's token; also
  at 1 connection. Strong reads: concurrent ones are coalesced (READ_COALESCING).
- **GET hit, consistency=eventual**: the same with \`?consistency=eventual\`, so that each worker's cache may answer
  (the preloaded keys fit in it), after a warm-up of ${s.warmupS * 4} s in which each worker reads most of them once;
  also at ${s.highConnections} connections. Ratios to the bare Express + point select
  and to a bare node:http hello world.
- **GET consistency=eventual over ${s.cacheSetKeys} objects of ${s.batchItemBytes / 1024} KB**: random keys of a set larger
  than READ_CACHE_MB (32 MB) in full mode, written just before (untimed): the cache is full and evicting, and
  the worker's RSS (Memory) includes it.
- **POST create**: a new key every request, round-robin over the ${s.tenants} tenants, ${s.valueBytes}-byte values.
- **POST overwrite, 1 tenant**: every connection overwrites a random one of the first tenant's keys with a value of
  the same size, so every write queues on that tenant's row lock (the tenant's row still changes: its revision).
- **mix**: each request is a GET hit with probability ${s.mixReadShare}, otherwise a POST create. Its baseline blends
  the two: 1 / (${s.mixReadShare} / bare select + ${(1 - s.mixReadShare).toFixed(1)} / mysql2 write procedure).
- **4 MB batch**: ${s.batchItems} values of ${s.batchItemBytes - 2} ASCII characters (${s.batchItemBytes} bytes of
  compact JSON each, ${(s.batchItems * s.batchItemBytes).toLocaleString('en')} bytes in all, the batch limit), new keys
  in every run, one tenant; one untimed warm-up, then the median (p99 column: the slowest) of ${s.batchRuns} runs one
  after another.
- **list 1000 keys**: \`GET /api/objects?prefix=big/<d>&limit=1000\` (no values) from one tenant of
  ${s.bigTenantKeys.toLocaleString('en')} keys, \`<d>\` a random leading digit (each prefix a tenth of the keys).
- **batch get of 100 keys**: \`POST /api/batch/get\` of 100 preloaded keys in random order, a random tenant.
- **POST overwrite with If-Match: \\***: a conditional overwrite of a random preloaded key of a random tenant.
- **GET hit, ${s.highConnections} connections**: GET hit again at ${s.highConnections} connections.
- **Noisy neighbour** (two rows): the other ${s.tenants - 1} tenants' traffic, half GET hits and half same-size
  overwrites, alone and then beside ${s.connections} more connections overwriting the hot tenant (as in POST
  overwrite, 1 tenant) for the same time. Compare the two rows' p50 and p99: a hot tenant queues in its worker's
  line for that tenant, holding at most one database connection per worker, so the others are not stuck behind
  it. The second row's label gives the hot tenant's own writes/s; its CPU column is empty, as both loads ran on
  the same processes.
- **Baselines** (measured once, no HTTP, no service code): mysql2 with a pool of 20 connections and 20 concurrent
  loops, the service's own SQL imported from src/ (no copies), sessions at READ COMMITTED: the point select; the
  write procedure the service calls (\`CALL tenantkv_put_v3\`), creating keys across the ${s.tenants} tenants,
  overwriting on one, and overwriting with If-Match: \\* across all; the listing's range query (1001 rows, as the
  service asks one more than the page to know whether it is the last) and the batch get's \`IN\` query, the
  service's own statements; the same single write as a plain transaction (\`START TRANSACTION\`; the tenant row and the
  key's row \`FOR UPDATE\`; \`INSERT\` or \`UPDATE\` of the object; the ledger \`UPDATE\`; \`COMMIT\`) on one tenant;
  the batch transaction (lock, existing rows, one multi-row \`INSERT … ON DUPLICATE KEY UPDATE\` prepared as the
  service sends it, ledger).
  Then bench/bare-express.ts, a bare Express 5 server in one process with a 10-connection pool like the
  service's, loaded exactly like GET hit: a hello-world route (no database) and a route doing one point select;
  and in the same process a bare node:http server answering every request with the same constant JSON.
`;
}

/** Full mode: bench/results/<timestamp>.json, bench/results/latest.json and docs/BENCHMARKS.md. */
export async function writeResults(report: BenchReport, root: string): Promise<string[]> {
  const dir = path.join(root, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const files = [path.join(dir, `${stamp}.json`), path.join(dir, 'latest.json')];
  for (const file of files) fs.writeFileSync(file, json);
  const docs = path.join(root, 'docs', 'BENCHMARKS.md');
  fs.mkdirSync(path.dirname(docs), { recursive: true });
  fs.writeFileSync(docs, await formatMarkdown(renderMarkdown(report), docs));
  return [...files, docs];
}

/** The repository's prettier settings, so that `make lint` (prettier --check) accepts the generated file. */
export async function formatMarkdown(text: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(text, { ...options, filepath: file });
  } catch (err) {
    process.stderr.write(`prettier unavailable, docs left unformatted: ${String(err)}\n`);
    return text;
  }
}
