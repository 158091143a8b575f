/**
 * How stale eventual reads are across instances: a writer on instance A at a steady rate over a set of keys,
 * readers on instance B asking for the same keys with `?consistency=eventual` as fast as they can. For each
 * write, the delay from its acknowledgement until the first read on B sent after it shows it (or a later
 * version); for each answer, how long the oldest write it missed had been acknowledged (0 when it missed none),
 * which CACHE_MAX_STALENESS_MS bounds.
 */
import http from 'node:http';
import { percentile } from './common';
import { newTenant, postObject } from './http';

export interface StalenessResult {
  writesPerS: number;
  writes: number;
  reads: number;
  /** Share of the answers that B's cache gave (X-Consistency: eventual). */
  cachedShare: number;
  /** Acknowledged on A → first read on B that shows it, in ms. */
  delay: { p50: number; p99: number; max: number };
  /** The stalest answer (ms since the first write it missed was acknowledged), and how many passed the bound. */
  stalestMs: number;
  overBound: number;
  boundMs: number;
  failed: number;
}

const TENANTS = 10;
const KEYS_PER_TENANT = 2;
const READERS = 16;

function eventualGet(
  agent: http.Agent,
  url: string,
  token: string,
): Promise<{ status: number; version: number; cached: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          version: res.statusCode === 200 ? (JSON.parse(body) as { version: number }).version : 0,
          cached: res.headers['x-consistency'] === 'eventual',
        }),
      );
    });
    req.on('error', reject);
  });
}

export async function measureStaleness(
  a: string,
  b: string,
  options: { rate: number; seconds: number; boundMs: number },
): Promise<StalenessResult> {
  const tokens = await Promise.all(Array.from({ length: TENANTS }, () => newTenant(a, 'stale')));
  const slots = tokens.flatMap((token, t) => Array.from({ length: KEYS_PER_TENANT }, (_, k) => ({ token, t, k })));
  const keyOf = (k: number): string => `s${k}`;
  // Per slot: acknowledged versions and when, in order; answers on B.
  const acks = slots.map(() => [] as { version: number; at: number }[]);
  const answers = slots.map(() => [] as { sentAt: number; version: number }[]);
  for (const slot of slots) {
    const first = await postObject(
      `${a}/api/object`,
      slot.token,
      JSON.stringify({ key: keyOf(slot.k), value: 0 }),
      false,
    );
    if (first.status !== 201) throw new Error(`staleness preload: ${first.status}`);
  }
  const readAgent = new http.Agent({ keepAlive: true, maxSockets: READERS });
  let failed = 0;
  let cached = 0;
  let sent = 0;
  const started = performance.now();
  const end = started + options.seconds * 1000;
  const reader = async (r: number): Promise<void> => {
    for (let i = r; performance.now() < end; i++) {
      const s = i % slots.length;
      const sentAt = performance.now();
      const res = await eventualGet(
        readAgent,
        `${b}/api/object/${keyOf(slots[s].k)}?consistency=eventual`,
        slots[s].token,
      );
      if (res.status !== 200) failed++;
      else answers[s].push({ sentAt, version: res.version });
      if (res.cached) cached++;
    }
  };
  const readers = Promise.all(Array.from({ length: READERS }, (_, r) => reader(r)));
  const inFlight = new Set<Promise<void>>();
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - started) / 1000) * options.rate);
    while (sent < due && inFlight.size < 64) {
      const s = sent++ % slots.length;
      const p = postObject(
        `${a}/api/object`,
        slots[s].token,
        JSON.stringify({ key: keyOf(slots[s].k), value: sent }),
        false,
      ).then(({ status, version }) => {
        if (status === 201) acks[s].push({ version, at: performance.now() });
        else failed++;
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  await Promise.all(inFlight);
  await readers;
  const elapsedS = (performance.now() - started) / 1000;
  readAgent.destroy();

  const delays: number[] = [];
  let stalestMs = 0;
  let overBound = 0;
  let reads = 0;
  slots.forEach((_, s) => {
    const acked = [...acks[s]].sort((x, y) => x.version - y.version);
    const seen = answers[s];
    reads += seen.length;
    for (const ack of acked) {
      const shown = seen.find((answer) => answer.sentAt > ack.at && answer.version >= ack.version);
      if (shown) delays.push(shown.sentAt - ack.at);
    }
    for (const answer of seen) {
      const missed = acked.find((ack) => ack.version > answer.version && ack.at < answer.sentAt);
      if (!missed) continue;
      const staleMs = answer.sentAt - missed.at;
      stalestMs = Math.max(stalestMs, staleMs);
      if (staleMs > options.boundMs) overBound++;
    }
  });
  const writes = acks.reduce((n, list) => n + list.length, 0);
  return {
    writesPerS: writes / elapsedS,
    writes,
    reads,
    cachedShare: reads > 0 ? cached / reads : 0,
    delay: { p50: percentile(delays, 50), p99: percentile(delays, 99), max: percentile(delays, 100) },
    stalestMs,
    overBound,
    boundMs: options.boundMs,
    failed,
  };
}
