import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  NetworkError,
  RateLimitedError,
  TenantKv,
  TenantKvAdmin,
  UnauthorizedError,
  UnavailableError,
  type TenantKvError,
  type WatchEvent,
} from '../../../packages/client/src';

/**
 * The client's retries and its watch's resumption, against tiny HTTP servers that answer exactly what each case
 * needs (a 503 then a 200, a connection cut before any answer, a stream cut half-way through a revision): what
 * a real service does only by accident. No database is involved.
 */
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

async function server(
  handle: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void,
): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    req.on('end', () => handle(req, res, seen.length));
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      }),
  };
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
async function serve(handle: Parameters<typeof server>[0]) {
  const s = await server(handle);
  open.push(s);
  return s;
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}
const error = (status: number, code: string) => ({ message: code.toLowerCase(), status_code: status, code });
const QUOTA = { provisioned: 100, utilised: 0, objects: 0, revision: 4, history_bytes: 0 };

async function rejection(promise: Promise<unknown>): Promise<TenantKvError> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (err: TenantKvError) => err,
  );
}

describe('@tenantkv/client retries', () => {
  it('waits out a 503 with Retry-After: 1, then succeeds (one retry, about a second later)', async () => {
    const s = await serve((_req, res, n) =>
      n === 1 ? json(res, 503, error(503, 'BUSY'), { 'Retry-After': '1' }) : json(res, 200, QUOTA),
    );
    const started = Date.now();
    expect(await new TenantKv({ baseUrl: s.url, token: 't' }).quota()).toEqual(QUOTA);
    const elapsed = Date.now() - started;
    expect(s.seen).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(2500);
    expect(s.seen[1].headers.authorization).toBe('Bearer t');
  });

  it('retries a 429 and a 503 without Retry-After with backoff, up to maxRetries, then throws the typed error', async () => {
    const s = await serve((_req, res) => json(res, 503, error(503, 'DATABASE_UNAVAILABLE')));
    const failed = await rejection(new TenantKv({ baseUrl: s.url, maxRetries: 2, retryDelayMs: 5 }).quota());
    expect(failed).toBeInstanceOf(UnavailableError);
    expect([failed.code, failed.attempts, s.seen.length]).toEqual(['DATABASE_UNAVAILABLE', 3, 3]);

    const limited = await serve((_req, res, n) =>
      n < 3 ? json(res, 429, error(429, 'RATE_LIMITED')) : res.writeHead(201, { ETag: '"9"' }).end(),
    );
    // A rate-limited write did nothing: retrying it is safe even without a precondition.
    expect(await new TenantKv({ baseUrl: limited.url, retryDelayMs: 5 }).put('k', 1)).toEqual({ version: 9 });
    expect(limited.seen.map((r) => r.method)).toEqual(['POST', 'POST', 'POST']);
  });

  it('retries a plain write after SERVICE_READ_ONLY (refused before any work), never after BUSY or DATABASE_UNAVAILABLE', async () => {
    // BUSY is what the request budget answers while the work runs on: the write may commit all the same.
    for (const code of ['BUSY', 'DATABASE_UNAVAILABLE']) {
      const s = await serve((_req, res) => json(res, 503, error(503, code), { 'Retry-After': '0' }));
      const failed = await rejection(new TenantKv({ baseUrl: s.url, retryDelayMs: 5 }).put('k', 1));
      expect([failed.constructor, failed.code, failed.attempts, s.seen.length]).toEqual([UnavailableError, code, 1, 1]);
      // A compare-and-set cannot apply twice: it is retried as a read is.
      const cas = await rejection(new TenantKv({ baseUrl: s.url, retryDelayMs: 5 }).put('k', 1, { ifVersion: 3 }));
      expect([cas.code, cas.attempts, s.seen.length]).toEqual([code, 4, 1 + 4]);
    }
    const maintenance = await serve((_req, res, n) =>
      n === 1
        ? json(res, 503, error(503, 'SERVICE_READ_ONLY'), { 'Retry-After': '0' })
        : res.writeHead(201, { ETag: '"2"' }).end(),
    );
    expect(await new TenantKv({ baseUrl: maintenance.url, retryDelayMs: 5 }).put('k', 1)).toEqual({ version: 2 });
    expect(maintenance.seen).toHaveLength(2);
  });

  it('does not wait a Retry-After longer than maxRetryDelayMs: throws at once, retryAfter says when', async () => {
    const s = await serve((_req, res) =>
      json(res, 429, error(429, 'RATE_LIMITED'), { 'Retry-After': '120', RateLimit: '"default";r=0;t=120' }),
    );
    const failed = (await rejection(new TenantKv({ baseUrl: s.url }).quota())) as RateLimitedError;
    expect(failed).toBeInstanceOf(RateLimitedError);
    expect([failed.retryAfter, failed.attempts, s.seen.length]).toEqual([120, 1, 1]);
    expect(failed.headers.get('ratelimit')).toBe('"default";r=0;t=120');

    // A Retry-After of exactly the cap is waited for: the jitter on top of it does not make it too long.
    const atCap = await serve((_req, res, n) =>
      n === 1 ? json(res, 429, error(429, 'RATE_LIMITED'), { 'Retry-After': '1' }) : json(res, 200, QUOTA),
    );
    expect(await new TenantKv({ baseUrl: atCap.url, maxRetryDelayMs: 1000 }).quota()).toEqual(QUOTA);
    expect(atCap.seen).toHaveLength(2);
  });

  it('does not retry what retrying cannot cure (ADMIN_DISABLED, a 401)', async () => {
    const s = await serve((req, res) =>
      req.url === '/api/quota'
        ? json(res, 401, error(401, 'UNAUTHORIZED'))
        : json(res, 503, error(503, 'ADMIN_DISABLED')),
    );
    expect(await rejection(new TenantKv({ baseUrl: s.url, retryDelayMs: 5 }).quota())).toBeInstanceOf(
      UnauthorizedError,
    );
    expect(s.seen).toHaveLength(1);
    const admin = new TenantKvAdmin({ baseUrl: s.url, adminKey: 'some-admin-key', retryDelayMs: 5 });
    const disabled = await rejection(admin.metrics());
    expect([disabled.constructor, disabled.code, disabled.attempts]).toEqual([UnavailableError, 'ADMIN_DISABLED', 1]);
    expect(s.seen).toHaveLength(2);
  });

  it('after a network failure retries what sending twice cannot harm, and never a plain write', async () => {
    // Each call's first request has its connection cut before any answer; the next is answered.
    const cut = new Set<string>();
    const s = await serve((req, res) => {
      const call = String(req.headers['x-call']);
      if (!cut.has(call)) {
        cut.add(call);
        req.socket.destroy();
        return;
      }
      if (req.method === 'GET') return json(res, 200, QUOTA);
      if (req.url === '/api/batch/delete') return json(res, 200, { deleted: 1 });
      if (req.url === '/api/batch/get') return json(res, 200, { items: [], missing: ['a'] });
      res.writeHead(req.method === 'DELETE' ? 204 : 201, { ETag: '"5"' }).end();
    });
    let calls = 0;
    const attempts = async (call: (kv: TenantKv) => Promise<unknown>) => {
      const kv = new TenantKv({ baseUrl: s.url, retryDelayMs: 5, headers: { 'X-Call': String(++calls) } });
      const before = s.seen.length;
      const outcome = await call(kv).then(
        () => 'ok',
        (err: unknown) => err,
      );
      return [outcome instanceof NetworkError ? 'NetworkError' : outcome, s.seen.length - before];
    };

    expect(await attempts((kv) => kv.quota())).toEqual(['ok', 2]);
    expect(await attempts((kv) => kv.delete('k'))).toEqual(['ok', 2]);
    expect(await attempts((kv) => kv.put('k', 1, { ifVersion: 4 }))).toEqual(['ok', 2]);
    expect(await attempts((kv) => kv.put('k', 1, { ifAbsent: true }))).toEqual(['ok', 2]);
    expect(await attempts((kv) => kv.batchPut([{ key: 'a', value: 1, ifAbsent: true }]))).toEqual(['ok', 2]);
    expect(await attempts((kv) => kv.batchGet(['a']))).toEqual(['ok', 2]);
    expect(await attempts((kv) => kv.put('plain', 1))).toEqual(['NetworkError', 1]);
    // If-Match: * holds again after its own write: sent twice, it writes twice.
    expect(await attempts((kv) => kv.put('k', 1, { ifExists: true }))).toEqual(['NetworkError', 1]);
    expect(
      await attempts((kv) =>
        kv.batchPut([
          { key: 'a', value: 1, ifAbsent: true },
          { key: 'b', value: 1 },
        ]),
      ),
    ).toEqual(['NetworkError', 1]);
    expect(await attempts((kv) => kv.batchDelete(['a']))).toEqual(['NetworkError', 1]);
    expect(await attempts((kv) => kv.import([{ key: 'a', value: 1 }]))).toEqual(['NetworkError', 1]);
  });

  it('ends an attempt that gets no answer within timeoutMs, and retries it when idempotent', async () => {
    const s = await serve(() => undefined);
    const failed = await rejection(
      new TenantKv({ baseUrl: s.url, timeoutMs: 100, maxRetries: 1, retryDelayMs: 5 }).quota(),
    );
    expect(failed).toBeInstanceOf(NetworkError);
    expect([failed.status, failed.code, failed.attempts, s.seen.length]).toEqual([0, 'NETWORK_ERROR', 2, 2]);
  });

  it('stops a call and its wait for a retry when its signal aborts', async () => {
    const controller = new AbortController();
    const s = await serve((_req, res) => {
      json(res, 503, error(503, 'BUSY'), { 'Retry-After': '20' });
      controller.abort(new Error('the caller gave up'));
    });
    const started = Date.now();
    const kv = new TenantKv({ baseUrl: s.url });
    await expect(kv.quota({ signal: controller.signal })).rejects.toThrow('the caller gave up');
    expect(Date.now() - started).toBeLessThan(5000);
    expect(s.seen).toHaveLength(1);
  });
});

describe('@tenantkv/client watch, protocol cases', () => {
  const sse = (res: http.ServerResponse) =>
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  const change = (event: string, key: string, version: number, id = false) =>
    `${id ? `id: ${version}\n` : ''}event: ${event}\ndata: ${JSON.stringify({ key, version, ttl: 0, size: 1 })}\n\n`;

  async function take(watch: AsyncIterator<WatchEvent>, count: number): Promise<[string, string, number][]> {
    const events: [string, string, number][] = [];
    while (events.length < count) {
      const next = await watch.next();
      if (next.done) break;
      events.push([next.value.type, next.value.key, next.value.version]);
    }
    return events;
  }

  it('gives a revision only whole: cut half-way, it resumes after the last whole one and gives it once', async () => {
    const s = await serve((req, res, n) => {
      if (req.url === '/api/quota') return json(res, 200, QUOTA);
      sse(res);
      if (n === 2) {
        res.write(': watching\nretry: 1000\n\n');
        res.write(change('put', 'a', 5) + change('put', 'b', 5, true));
        // Revision 6 is cut after its first event: the connection drops before its id.
        res.write(change('put', 'c', 6), () => setImmediate(() => req.socket.destroy()));
        return;
      }
      res.write(change('put', 'c', 6) + change('delete', 'd', 6, true) + change('expire', 'e', 7, true));
    });
    const kv = new TenantKv({ baseUrl: s.url, token: 't' });
    const watch = kv.watch('p/', { reconnect: { initialDelayMs: 10 } });
    expect(await take(watch, 5)).toEqual([
      ['put', 'a', 5],
      ['put', 'b', 5],
      ['put', 'c', 6],
      ['delete', 'd', 6],
      ['expire', 'e', 7],
    ]);
    expect(watch.revision).toBe(7);
    await watch.return();
    // Started from the tenant's revision (the quota), resumed from the last whole revision.
    expect(s.seen.map((r) => [r.url, r.headers['last-event-id']])).toEqual([
      ['/api/quota', undefined],
      ['/api/watch?prefix=p%2F', '4'],
      ['/api/watch?prefix=p%2F', '5'],
    ]);
    expect(s.seen[1].headers.accept).toBe('text/event-stream');
  });

  it('takes a stream that went quiet past idleTimeoutMs as dropped, and resumes; overflow resumes at once', async () => {
    const s = await serve((_req, res, n) => {
      sse(res);
      if (n === 1) return res.write(': heartbeat\n\n');
      if (n === 2) return res.end(change('put', 'a', 11, true) + 'event: overflow\ndata: {"revision":11}\n\n');
      res.write(change('put', 'b', 12, true));
    });
    const watch = new TenantKv({ baseUrl: s.url }).watch('', {
      since: 10,
      idleTimeoutMs: 200,
      reconnect: { initialDelayMs: 10 },
    });
    expect(await take(watch, 2)).toEqual([
      ['put', 'a', 11],
      ['put', 'b', 12],
    ]);
    await watch.close();
    expect(s.seen.map((r) => r.headers['last-event-id'])).toEqual(['10', '10', '11']);
  });

  it('throws what the stream ends with (event: error), and ends quietly on its signal', async () => {
    const s = await serve((_req, res, n) => {
      sse(res);
      if (n === 1) return res.end(`event: error\ndata: ${JSON.stringify(error(401, 'UNAUTHORIZED'))}\n\n`);
      res.write(change('put', 'a', 2, true));
    });
    const kv = new TenantKv({ baseUrl: s.url });
    await expect(take(kv.watch('', { since: 1 }), 1)).rejects.toBeInstanceOf(UnauthorizedError);

    const controller = new AbortController();
    const watch = kv.watch('', { since: 1, signal: controller.signal });
    expect(await take(watch, 1)).toEqual([['put', 'a', 2]]);
    const pending = watch.next();
    controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
  });
});
