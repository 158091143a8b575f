/**
 * Export and import throughput, and the service's memory meanwhile, on the real service (one worker) against a
 * fresh MariaDB database: `EXPORT_KEYS` keys (default 1,000,000) of `EXPORT_VALUE_BYTES`-byte values (default
 * 100) are loaded into one tenant through the batch API, then
 * - GET /api/export streams them all: objects/s, and the worker's RSS before, at each quarter and at its peak;
 * - that stream is piped straight into POST /api/import of a second tenant: lines/s, and the same RSS figures.
 * Run it with `make bench-export`. QUICK=1:
 * 20,000 keys, so that CI keeps the tool working.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import {
  benchDatabase,
  createOwnedDatabase,
  databaseUrl,
  jsonStringOfBytes,
  log,
  projectRoot,
  randomHex,
} from './common';
import { closeIdleSockets, newTenant, requestExpecting } from './http';
import { childPids, runTool, startService } from './processes';

const MIB = 1024 * 1024;

/** A process's resident set, from /proc (bytes). */
function rss(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** The worker's RSS every 50 ms while `run` goes on: its peak, and what it was when each quarter was done. */
async function watchRss<T>(
  pid: number,
  run: (progress: (done: number) => void) => Promise<T>,
  total: number,
): Promise<{ result: T; before: number; peak: number; quarters: number[] }> {
  const before = rss(pid);
  let peak = before;
  const quarters: number[] = [];
  const timer = setInterval(() => (peak = Math.max(peak, rss(pid))), 50);
  try {
    const result = await run((done) => {
      while (quarters.length < 4 && done >= ((quarters.length + 1) * total) / 4) {
        quarters.push(rss(pid));
        peak = Math.max(peak, ...quarters);
      }
    });
    return { result, before, peak: Math.max(peak, rss(pid)), quarters };
  } finally {
    clearInterval(timer);
  }
}

/**
 * GET /api/export as a stream, piped into `sink` if given (before anything is read, so that it gets every byte);
 * `onData` hears how many lines and bytes have arrived so far.
 */
function openExport(
  url: string,
  token: string,
  onData: (lines: number, bytes: number) => void,
  sink?: NodeJS.WritableStream,
): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      `${url}/api/export`,
      { agent: false, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`GET /api/export: ${res.statusCode}`));
        let lines = 0;
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
          onData(lines, bytes);
        });
        if (sink) res.pipe(sink);
        resolve(res);
      },
    );
    req.on('error', reject);
  });
}

/** Reads an export to its end: how many lines and bytes it had. */
async function drainExport(url: string, token: string, progress: (lines: number) => void) {
  let lines = 0;
  let bytes = 0;
  const res = await openExport(url, token, (l, b) => {
    lines = l;
    bytes = b;
    progress(l);
  });
  await new Promise<void>((resolve, reject) => {
    res.on('end', resolve);
    res.on('error', reject);
  });
  return { lines, bytes };
}

/** Pipes one tenant's export into another's import: the import's report. */
async function copyTenant(url: string, from: string, to: string, progress: (lines: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/api/import`,
      {
        method: 'POST',
        agent: false,
        headers: { authorization: `Bearer ${to}`, 'content-type': 'application/x-ndjson' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`import: ${body}`))));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    openExport(url, from, progress, req).catch(reject);
  });
}

const mib = (bytes: number): string => `${(bytes / MIB).toFixed(0)} MiB`;

function summary(label: string, count: number, seconds: number, memory: Awaited<ReturnType<typeof watchRss>>): string {
  return (
    `${label.padEnd(8)} ${count} objects in ${seconds.toFixed(1)} s: ${(count / seconds).toFixed(0)} objects/s; ` +
    `worker RSS ${mib(memory.before)} before, ${memory.quarters.map(mib).join(' / ')} at each quarter, ` +
    `peak ${mib(memory.peak)}`
  );
}

runTool('bench-export', async (undo) => {
  const quick = ['1', 'true'].includes(process.env.QUICK ?? '');
  const keys = quick ? 20_000 : Number(process.env.EXPORT_KEYS ?? 1_000_000);
  const valueBytes = Number(process.env.EXPORT_VALUE_BYTES ?? 100);
  const database = benchDatabase(process.env);
  undo(await createOwnedDatabase(database));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-export-'));
  undo(() => fs.rmSync(logDir, { recursive: true, force: true }));
  const service = await startService({
    root: projectRoot(),
    databaseUrl: databaseUrl(database),
    jwtSecret: randomHex(32),
    workers: 1,
    logFile: path.join(logDir, 'service.log'),
  });
  undo(service.stop);
  const [worker] = childPids(service.pid);
  const url = service.url;

  const from = await newTenant(url, 'export');
  const value = jsonStringOfBytes(valueBytes);
  const perBatch = 10_000;
  const loadStarted = performance.now();
  for (let first = 0; first < keys; first += perBatch) {
    const batch = Array.from({ length: Math.min(perBatch, keys - first) }, (_, i) => ({
      key: `objects/${String(first + i).padStart(7, '0')}`,
      value,
    }));
    await requestExpecting(201, 'POST', `${url}/api/batch/object`, batch, { authorization: `Bearer ${from}` });
  }
  log(`loaded ${keys} keys in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s`);
  closeIdleSockets();

  let started = performance.now();
  const exported = await watchRss(worker, (progress) => drainExport(url, from, progress), keys);
  const exportSeconds = (performance.now() - started) / 1000;
  if (exported.result.lines !== keys) throw new Error(`the export gave ${exported.result.lines} lines, not ${keys}`);

  const to = await newTenant(url, 'import');
  started = performance.now();
  const imported = await watchRss(worker, (progress) => copyTenant(url, from, to, progress), keys);
  const importSeconds = (performance.now() - started) / 1000;
  const report = JSON.parse(imported.result) as { written: number; failed: unknown[]; stopped?: unknown };
  if (report.written !== keys || report.failed.length > 0 || report.stopped) {
    throw new Error(`the import did not write every line: ${imported.result.slice(0, 300)}`);
  }

  process.stdout.write(
    `\nexport and import, ${keys} keys of ${valueBytes}-byte values, ${mib(exported.result.bytes)} of NDJSON, ` +
      `WEB_CONCURRENCY=1, MariaDB\n` +
      `${summary('export', keys, exportSeconds, exported)}\n` +
      `${summary('import', keys, importSeconds, imported)} (export piped into import)\n`,
  );
});
