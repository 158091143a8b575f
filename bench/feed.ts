/**
 * `make bench-feed`: how long a change takes to reach change streams (GET /api/watch), on the real service against
 * a fresh database. Two parts:
 * - one instance, WEB_CONCURRENCY=2: one stream, writes sent one at a time, each on a new connection so that the
 *   cluster spreads them over both workers: about half go through the stream's own worker, the others through its
 *   sibling, which tells the stream's worker over the worker bus;
 * - two instances on one database: `FEED_WATCHERS` streams (default 100, 10 per tenant) on instance B while
 *   instance A takes `FEED_RATE` writes/s (default 1000) across those tenants for `FEED_SECONDS`: B learns of them
 *   only by polling the outbox (CHANGE_POLL_MS).
 * Each reports percentiles of the time from a write's acknowledgement to its event's arrival (negative when the
 * event came first). QUICK=1: a few writes, so that CI keeps the tool working. Writes nothing.
 */
import http from 'node:http';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { benchDatabase, createOwnedDatabase, databaseUrl, percentile, projectRoot, randomHex } from './common';
import { closeIdleSockets, newTenant, postObject } from './http';
import { runTool, startService, type Undo } from './processes';

/** Opens a change stream and calls `onChange` with each put event's revision and when it arrived. */
function watch(url: string, token: string, onChange: (revision: number, atMs: number) => void): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      { agent: false, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`GET /api/watch: ${res.statusCode}`));
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const atMs = performance.now();
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = /^data: (.*)$/m.exec(event)?.[1];
            if (data && /^event: put$/m.test(event)) onChange((JSON.parse(data) as { version: number }).version, atMs);
          }
        });
        resolve(() => req.destroy());
      },
    );
    req.on('error', reject);
  });
}

function summary(label: string, samples: number[]): string {
  const f = (p: number): string => percentile(samples, p).toFixed(1).padStart(7);
  return `${label.padEnd(26)} p50 ${f(50)}  p90 ${f(90)}  p99 ${f(99)}  max ${f(100)} ms`;
}

/** One stream, writes one at a time through both workers of its instance. */
async function sameInstance(url: string, writes: number, undo: Undo): Promise<string> {
  const token = await newTenant(url, 'feed');
  const arrived = new Map<number, number>();
  let waiting: { revision: number; wake: () => void } | undefined;
  undo(
    await watch(`${url}/api/watch?prefix=lat%2F`, token, (revision, atMs) => {
      arrived.set(revision, atMs);
      if (waiting && revision >= waiting.revision) waiting.wake();
    }),
  );
  const afterAck: number[] = [];
  for (let i = 0; i < writes; i++) {
    const { status, version } = await postObject(
      `${url}/api/object`,
      token,
      JSON.stringify({ key: `lat/${i}`, value: i }),
      true,
    );
    const acked = performance.now();
    if (status !== 201) throw new Error(`write ${i}: ${status}`);
    if (!arrived.has(version)) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`revision ${version}: no event within 10 s`)), 10_000);
        waiting = { revision: version, wake: () => (clearTimeout(timer), resolve()) };
      });
      waiting = undefined;
    }
    afterAck.push((arrived.get(version) as number) - acked);
  }
  return `one instance, WEB_CONCURRENCY=2, 1 stream, ${writes} writes one at a time through both workers\n${summary('acknowledged → event', afterAck)}`;
}

/** Streams on instance B, paced writes through instance A. */
async function crossInstance(
  a: string,
  b: string,
  options: { watchers: number; rate: number; seconds: number },
  undo: Undo,
): Promise<string> {
  const perTenant = 10;
  const tenants = await Promise.all(
    Array.from({ length: Math.ceil(options.watchers / perTenant) }, () => newTenant(a, 'feed')),
  );
  // Per tenant and revision: when A acknowledged it; per stream: when each revision arrived.
  const acked = tenants.map(() => new Map<number, number>());
  const streams: { tenant: number; arrived: Map<number, number> }[] = [];
  for (let w = 0; w < options.watchers; w++) {
    const tenant = w % tenants.length;
    const arrived = new Map<number, number>();
    streams.push({ tenant, arrived });
    undo(await watch(`${b}/api/watch`, tenants[tenant], (revision, atMs) => arrived.set(revision, atMs)));
  }
  let sent = 0;
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  const end = started + options.seconds * 1000;
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - started) / 1000) * options.rate);
    while (sent < due && inFlight.size < 64) {
      const tenant = sent % tenants.length;
      const n = sent++;
      const p = postObject(`${a}/api/object`, tenants[tenant], JSON.stringify({ key: `k${n}`, value: n }), false).then(
        ({ status, version }) => {
          if (status === 201) acked[tenant].set(version, performance.now());
          else failed++;
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(inFlight);
  const elapsedS = (performance.now() - started) / 1000;
  const last = tenants.map((_, t) => Math.max(0, ...acked[t].keys()));
  // Every stream gets every revision of its tenant; wait (bounded) until the last has arrived everywhere.
  const deadline = Date.now() + 30_000;
  while (streams.some((s) => !s.arrived.has(last[s.tenant]))) {
    if (Date.now() > deadline) throw new Error('some streams did not get every change within 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const latencies: number[] = [];
  for (const s of streams) {
    for (const [revision, at] of acked[s.tenant]) {
      const arrivedAt = s.arrived.get(revision);
      if (arrivedAt === undefined) throw new Error(`a stream of tenant ${s.tenant} missed revision ${revision}`);
      latencies.push(arrivedAt - at);
    }
  }
  const written = acked.reduce((n, m) => n + m.size, 0);
  return (
    `two instances on one database: ${options.watchers} streams on B (${perTenant} per tenant), ` +
    `${(written / elapsedS).toFixed(0)} writes/s through A for ${elapsedS.toFixed(0)} s` +
    `${failed ? ` (${failed} not 201)` : ''}, ${latencies.length} events\n${summary('acknowledged → event', latencies)}`
  );
}

runTool('bench-feed', async (undo) => {
  const quick = ['1', 'true'].includes(process.env.QUICK ?? '');
  const root = projectRoot();
  const database = benchDatabase(process.env);
  undo(await createOwnedDatabase(database));
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-feed-'));
  undo(() => fs.rmSync(logDir, { recursive: true, force: true }));
  const start = async (name: string, workers: number): Promise<string> => {
    const service = await startService({
      root,
      databaseUrl: databaseUrl(database),
      jwtSecret,
      workers,
      logFile: path.join(logDir, `${name}.log`),
    });
    undo(service.stop);
    return service.url;
  };
  const jwtSecret = randomHex(32);
  const a = await start('a', 2);
  const first = await sameInstance(a, quick ? 20 : Number(process.env.FEED_WRITES ?? 400), undo);
  const b = await start('b', 1);
  const second = await crossInstance(
    a,
    b,
    {
      watchers: quick ? 10 : Number(process.env.FEED_WATCHERS ?? 100),
      rate: quick ? 100 : Number(process.env.FEED_RATE ?? 1000),
      seconds: quick ? 1 : Number(process.env.FEED_SECONDS ?? 10),
    },
    undo,
  );
  process.stdout.write(`\nchange feed latency (CHANGE_POLL_MS default)\n${first}\n${second}\n`);
  closeIdleSockets();
});
