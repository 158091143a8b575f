import type { AddressInfo } from 'node:net';
import type { WriteStrategy } from '../../../src/features/objects';
import { listenMetrics } from '../../../src/platform/http/metrics-endpoint';
import { instanceMetrics } from '../../../src/platform/metrics';
import { createLogger } from '../../../src/platform/logger';
import {
  api,
  describeTargets,
  expectError,
  harness,
  makeTenant,
  objectPath,
  request,
  valueOfSize,
  type Harness,
} from '../../support/harness';
import { countOf, parseMetrics, sampleOf, type Sample } from '../../support/prometheus';
import { send } from '../../support/service-process';
import { targets } from '../../support/targets';

/**
 * GET /metrics in one process (the tests' single process is the whole instance): who may read it, what the HTTP
 * series are labelled with, and that each service counter moves where its event happens. Counters belong to the
 * process, so every check compares a scrape before with one after.
 */
const ADMIN_KEY = 'metrics-test-admin-key-0123456789';
const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
const env = { ADMIN_API_KEYS: ADMIN_KEY };

async function scrape(h: Harness): Promise<Sample[]> {
  const res = await request(h.app).get('/metrics').set(admin).expect(200);
  return parseMetrics(res.text);
}

const requests = (method: string, route: string, status: number) => ({ method, route, status: String(status) });

/** What `act` moved `name{labels}` by. */
async function moved(h: Harness, name: string, labels: Record<string, string>, act: () => Promise<unknown>) {
  const before = countOf(await scrape(h), name, labels);
  await act();
  return countOf(await scrape(h), name, labels) - before;
}

describeTargets(
  'GET /metrics',
  (h, target) => {
    it('answers 401 without a key, 403 to a tenant token, and the Prometheus text format to an admin key', async () => {
      expectError(await request(h.app).get('/metrics'), 401, 'UNAUTHORIZED');
      expectError(await request(h.app).get('/metrics').set('Authorization', 'Bearer wrong-key-0123456789'), 401);
      const t = await makeTenant(h);
      expectError(await request(h.app).get('/metrics').set(t.auth), 403, 'ADMIN_KEY_REQUIRED');
      const res = await request(h.app).get('/metrics').set(admin).expect(200);
      expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      const samples = parseMetrics(res.text);
      for (const name of ['process_cpu_user_seconds_total', 'nodejs_heap_size_used_bytes', 'tenantkv_retries_total'])
        expect(res.text).toContain(`# TYPE ${name} `);
      expect(sampleOf(samples, 'tenantkv_quota_refusals_total')).toBeDefined();
    });

    it('labels a request with its route template: two keys are one series, in the counter and the histogram', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      await kv.put('first', 1).expect(201);
      await kv.put('second/with/slashes', 2).expect(201);
      const labels = requests('GET', '/api/object/*key', 200);
      const before = await scrape(h);
      await kv.get('first').expect(200);
      await kv.get('second/with/slashes').expect(200);
      const after = await scrape(h);
      expect(countOf(after, 'http_requests_total', labels) - countOf(before, 'http_requests_total', labels)).toBe(2);
      const timed: [string, Record<string, string>][] = [
        ['http_request_duration_seconds_count', labels],
        ['http_request_duration_seconds_bucket', { ...labels, le: '+Inf' }],
      ];
      for (const [series, with_] of timed)
        expect(countOf(after, series, with_) - countOf(before, series, with_)).toBe(2);
      const routes = new Set(after.filter((s) => s.name === 'http_requests_total').map((s) => s.labels.route));
      expect([...routes].filter((r) => r.includes('first') || r.includes('second'))).toEqual([]);
    });

    it('labels the status, a template for refusals before the handler, and unmatched for paths no route has', async () => {
      expect(
        await moved(h, 'http_requests_total', requests('GET', '/api/object/*key', 401), () =>
          request(h.app).get(objectPath('nobody')).expect(401),
        ),
      ).toBe(1);
      expect(
        await moved(h, 'http_requests_total', requests('GET', 'unmatched', 404), () =>
          request(h.app).get('/api/no/such/path').expect(404),
        ),
      ).toBe(1);
      expect(
        await moved(h, 'http_requests_total', requests('DELETE', '/metrics', 405), () =>
          request(h.app).delete('/metrics').expect(405),
        ),
      ).toBe(1);
      const t = await makeTenant(h);
      expect(
        await moved(h, 'http_requests_total', requests('GET', '/api/object/*key', 404), () =>
          api(h, t).get('missing').expect(404),
        ),
      ).toBe(1);
    });

    it('counts each purge run, and the rows and bytes it purged', async () => {
      // Other files' objects that would have expired by then go first, so that the runs below purge only these.
      h.clock.offsetSeconds = 100;
      while ((await h.container.purge.runOnce()) > 0);
      h.clock.offsetSeconds = 0;
      const t = await makeTenant(h);
      const kv = api(h, t);
      const soon = h.clock.nowSeconds() + 50;
      await kv.put('stays', valueOfSize(10)).expect(201);
      await kv.put('goes1', valueOfSize(30), soon).expect(201);
      await kv.put('goes2', valueOfSize(70), soon).expect(201);
      // Expired for the app's clock only: the MySQL EVENT (database time) cannot purge them first.
      h.clock.offsetSeconds = 100;
      const before = await scrape(h);
      expect(await h.container.purge.runOnce()).toBe(2);
      expect(await h.container.purge.runOnce()).toBe(0);
      const after = await scrape(h);
      const delta = (name: string) => countOf(after, name) - countOf(before, name);
      expect({
        runs: delta('tenantkv_purge_runs_total'),
        rows: delta('tenantkv_purge_rows_total'),
        bytes: delta('tenantkv_purge_bytes_total'),
      }).toEqual({ runs: 2, rows: 2, bytes: 100 });
    });

    it('reads the pool when scraped: connections lent out, and requests waiting for one', async () => {
      // A pool of its own, filled: SQLite has one connection, MySQL the least it may have.
      const own = await harness(target, { env, config: { dbPoolMax: 2 } });
      const size = target === 'sqlite' ? 1 : 2;
      const pool = async () => {
        const samples = await scrape(own);
        const state = (s: string) => sampleOf(samples, 'tenantkv_db_pool_connections', { state: s })?.value;
        return { used: state('used'), pending: state('pending'), free: state('free') };
      };
      expect(await pool()).toMatchObject({ used: 0, pending: 0 });
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const entered: Promise<void>[] = [];
      const transactions: Promise<void>[] = [];
      for (let i = 0; i <= size; i++) {
        entered.push(
          new Promise<void>((inside) => {
            transactions.push(
              own.db.transaction(async () => {
                inside();
                await held;
              }),
            );
          }),
        );
      }
      await Promise.all(entered.slice(0, size));
      // The last one waits for a connection: the pool counts it pending before the acquire times out.
      expect(await pool()).toMatchObject({ used: size, pending: 1, free: 0 });
      release();
      await Promise.all(transactions);
      expect(await pool()).toMatchObject({ used: 0, pending: 0, free: size });
    });
  },
  { env },
);

describeTargets(
  'per-tenant metrics',
  (h) => {
    it('are off by default: no series names a tenant', async () => {
      const t = await makeTenant(h, 10);
      expectError(await api(h, t).put('k', valueOfSize(20)), 403, 'QUOTA_EXCEEDED');
      const res = await request(h.app).get('/metrics').set(admin).expect(200);
      expect(res.text).not.toContain('tenantkv_tenant_');
      expect(res.text).not.toContain('tenant="');
    });

    it('with METRICS_TENANT_LABELS=true count each tenant’s requests and quota refusals', async () => {
      const labelled = await harness(h.target, { env: { ...env, METRICS_TENANT_LABELS: 'true' } });
      const t = await makeTenant(labelled, 10);
      const other = await makeTenant(labelled, 10);
      const kv = api(labelled, t);
      await kv.put('k', valueOfSize(5)).expect(201);
      await kv.get('k').expect(200);
      expectError(await kv.put('k2', valueOfSize(20)), 403, 'QUOTA_EXCEEDED');
      await api(labelled, other).get('k').expect(404);
      const samples = parseMetrics((await request(labelled.app).get('/metrics').set(admin).expect(200)).text);
      const tenant = { tenant: String(t.id) };
      expect({
        requests: countOf(samples, 'tenantkv_tenant_requests_total', tenant),
        refusals: countOf(samples, 'tenantkv_tenant_quota_refusals_total', tenant),
        otherRequests: countOf(samples, 'tenantkv_tenant_requests_total', { tenant: String(other.id) }),
        otherRefusals: sampleOf(samples, 'tenantkv_tenant_quota_refusals_total', { tenant: String(other.id) }),
      }).toEqual({ requests: 3, refusals: 1, otherRequests: 1, otherRefusals: undefined });
    });
  },
  { env },
);

/** Both write strategies (as the write contract runs them) end a refused write in the one place that counts it. */
const strategies = targets().flatMap((target) =>
  (target === 'mysql' ? ['procedure', 'transaction'] : ['transaction']).map((s) => [target, s] as const),
);

describe.each(strategies)('tenantkv_quota_refusals_total on %s through the %s strategy', (target, strategy) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(target, { env, writeStrategy: strategy as WriteStrategy['name'] });
    expect(h.container.writeStrategy.name).toBe(strategy);
  });
  afterAll(() => h.close());

  it('counts each refused put and batch once, and no write that fits', async () => {
    const t = await makeTenant(h, 100);
    const kv = api(h, t);
    const refusals = () =>
      moved(h, 'tenantkv_quota_refusals_total', {}, async () => {
        expectError(await kv.put('big', valueOfSize(101)), 403, 'QUOTA_EXCEEDED');
        expectError(
          await kv.batch([
            { key: 'b1', value: valueOfSize(60) },
            { key: 'b2', value: valueOfSize(60) },
          ]),
          403,
        );
        await kv.put('fits', valueOfSize(100)).expect(201);
        expectError(await kv.put('fits', valueOfSize(101)), 403, 'QUOTA_EXCEEDED');
      });
    expect(await refusals()).toBe(3);
  });
});

(targets().includes('mysql') ? describe : describe.skip)('tenantkv_retries_total on mysql', () => {
  // SQLite runs one transaction at a time on its one connection: it cannot deadlock, so nothing is retried there.
  let h: Harness;
  beforeAll(async () => {
    h = await harness('mysql', { env });
  });
  afterAll(() => h.close());

  it('counts a transaction the database rolled back in a deadlock and that ran again', async () => {
    const [a, b] = [await makeTenant(h), await makeTenant(h)];
    const lock = 'SELECT id FROM tenants WHERE id = ? FOR UPDATE';
    let signalA!: () => void;
    let signalB!: () => void;
    const lockedA = new Promise<void>((resolve) => (signalA = resolve));
    const lockedB = new Promise<void>((resolve) => (signalB = resolve));
    const attempts = { ab: 0, ba: 0 };
    const retries = await moved(h, 'tenantkv_retries_total', { cause: 'deadlock' }, () =>
      Promise.all([
        // Each takes its first row, waits until the other has its own, then asks for the other's: InnoDB rolls
        // one back at once, which runs again and waits its turn.
        h.db.transaction(async (sql) => {
          await sql.select(lock, [a.id]);
          if (++attempts.ab === 1) {
            signalA();
            await lockedB;
          }
          await sql.select(lock, [b.id]);
        }),
        h.db.transaction(async (sql) => {
          await sql.select(lock, [b.id]);
          if (++attempts.ba === 1) {
            signalB();
            await lockedA;
          }
          await sql.select(lock, [a.id]);
        }),
      ]),
    );
    expect({ retries, attempts: attempts.ab + attempts.ba }).toEqual({ retries: 1, attempts: 3 });
  });
});

describe('the METRICS_PORT listener', () => {
  it('serves GET /metrics without credentials, and nothing else', async () => {
    const h = await harness(targets()[0], { env });
    const server = await listenMetrics(0, '127.0.0.1', instanceMetrics, createLogger(h.config));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      await request(h.app).get('/healthz').expect(200);
      const res = await request(base).get('/metrics').expect(200);
      expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(countOf(parseMetrics(res.text), 'http_requests_total', requests('GET', '/healthz', 200))).toBeGreaterThan(
        0,
      );
      expectError(await request(base).get('/api/object/k'), 404, 'ROUTE_NOT_FOUND');
      const post = await request(base).post('/metrics');
      expectError(post, 405, 'METHOD_NOT_ALLOWED');
      expect(post.headers.allow).toBe('GET, HEAD');
      expect((await send(`${base}/metrics?name[]=http_requests_total`)).status).toBe(200);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await h.close();
    }
  });
});
