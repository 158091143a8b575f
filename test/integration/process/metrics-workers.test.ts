import http from 'node:http';
import { PinnedConnections, ServiceProcess, send } from '../../support/service-process';
import { TEST_MYSQL_URL, targets } from '../../support/targets';
import { uniqueName } from '../../support/harness';
import { countOf, parseMetrics, sampleOf, type Sample } from '../../support/prometheus';

/**
 * The real forked service with two workers: one scrape reports the whole instance, whichever process answers it
 * (the primary on METRICS_PORT, either worker on the public port). Requests go out on eight kept-alive
 * connections, which the primary spreads over both workers; the access log says which worker answered each.
 */
const ADMIN_KEY = 'metrics-workers-admin-key-0123456789';
const admin = { Authorization: `Bearer ${ADMIN_KEY}` };

(targets().includes('mysql') ? describe : describe.skip)('metrics of an instance with two workers', () => {
  let service: ServiceProcess;
  let url: string;
  let metricsUrl: string;
  let pinned: PinnedConnections;

  beforeAll(async () => {
    service = new ServiceProcess({
      DATABASE_URL: TEST_MYSQL_URL,
      JWT_SECRET_KEY: 'metrics-workers-jwt-secret-0123456789abcdef',
      ADMIN_API_KEYS: ADMIN_KEY,
      WEB_CONCURRENCY: '2',
      METRICS_PORT: '0',
      MIGRATE_ON_START: 'false',
    });
    url = await service.ready();
    metricsUrl = String((await service.waitForLine((l) => typeof l.metrics === 'string')).metrics);
    pinned = new PinnedConnections(8);
  });
  afterAll(async () => {
    pinned.close();
    await service.stop();
  });

  async function scrape(): Promise<Sample[]> {
    const res = await send(metricsUrl);
    expect(res.status).toBe(200);
    return parseMetrics(res.body as string);
  }

  const refused = { method: 'GET', route: '/api/object/*key', status: '401' };

  it('sums the requests both workers served, in one scrape, whichever process answers it', async () => {
    const earlier = await scrape();
    const before = countOf(earlier, 'http_requests_total', refused);
    const beforeTimed = countOf(earlier, 'http_request_duration_seconds_count', refused);
    const probe = uniqueName('probe');
    for (let round = 0; round < 3; round++) await pinned.each(`${url}/api/object/${probe}-${round}`);
    const sent = 3 * pinned.agents.length;
    // A request is counted before its access line is written: once every line is out, every request is counted.
    await service.waitForLine(
      () => service.lines.filter((l) => String(l.url).startsWith(`/api/object/${probe}`)).length === sent,
    );
    expect(service.servedBy((u) => u.startsWith(`/api/object/${probe}`)).size).toBe(2);

    const primary = await scrape();
    expect(countOf(primary, 'http_requests_total', refused) - before).toBe(sent);
    expect(countOf(primary, 'http_request_duration_seconds_count', refused) - beforeTimed).toBe(sent);

    // Either worker, asked on the public port, answers for the instance too.
    const scrapes = await pinned.each(`${url}/metrics`, { headers: admin });
    expect(scrapes.map((s) => s.status)).toEqual(scrapes.map(() => 200));
    for (const s of scrapes)
      expect(countOf(parseMetrics(s.body as string), 'http_requests_total', refused) - before).toBe(sent);
    await service.waitForLine(() => service.lines.filter((l) => l.url === '/metrics').length === scrapes.length);
    expect(service.servedBy((u) => u === '/metrics').size).toBe(2);
  });

  it('asks no credentials on METRICS_PORT, and an admin key on the public port', async () => {
    expect((await send(metricsUrl)).status).toBe(200);
    expect(new URL(metricsUrl).hostname).toBe('127.0.0.1');
    const anonymous = await send(`${url}/metrics`);
    expect({ status: anonymous.status, code: (anonymous.body as { code?: string }).code }).toEqual({
      status: 401,
      code: 'UNAUTHORIZED',
    });
    expect((await send(`${url}/metrics`, { headers: admin })).status).toBe(200);
  });

  it('reports the workers’ pools, process metrics and the requests in flight on any of them', async () => {
    const created = await send(`${url}/api/admin/tenants`, {
      method: 'POST',
      headers: admin,
      body: { user_name: uniqueName('metrics'), provisioned_capacity: 1000 },
    });
    expect(created.status).toBe(201);
    const minted = await send(`${url}/api/admin/tenants/${(created.body as { id: number }).id}/tokens`, {
      method: 'POST',
      headers: admin,
      body: { scopes: ['read'] },
    });
    expect(minted.status).toBe(201);
    const idle = await scrape();
    expect(sampleOf(idle, 'http_requests_in_flight')?.value).toBe(0);
    expect(sampleOf(idle, 'tenantkv_db_pool_connections', { state: 'free' })?.value).toBeGreaterThan(0);
    expect(sampleOf(idle, 'tenantkv_db_pool_connections', { state: 'pending' })?.value).toBe(0);
    expect(sampleOf(idle, 'process_cpu_user_seconds_total')?.value).toBeGreaterThan(0);
    expect(sampleOf(idle, 'process_resident_memory_bytes')?.value).toBeGreaterThan(0);

    // A change stream stays in flight until its client leaves.
    const stream = http.get(`${url}/api/watch`, {
      headers: { Authorization: `Bearer ${(minted.body as { token: string }).token}`, Accept: 'text/event-stream' },
    });
    try {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
        stream.once('response', resolve);
        stream.once('error', reject);
      });
      expect(res.statusCode).toBe(200);
      expect(sampleOf(await scrape(), 'http_requests_in_flight')?.value).toBe(1);
    } finally {
      stream.destroy();
    }
  });
});
