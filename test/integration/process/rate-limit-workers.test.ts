import { PinnedConnections, ServiceProcess, send } from '../../support/service-process';
import { TEST_MYSQL_URL, targets } from '../../support/targets';
import { uniqueName } from '../../support/harness';

/**
 * The real forked service with two workers on MariaDB and no Redis: both workers count in the primary, so a
 * tenant's burst and a user name's failed logins are one budget for the instance, not one per worker. Requests go
 * out at once on eight kept-alive connections, which the primary spreads over both workers; the access log says
 * which worker answered each.
 */
const ADMIN_KEY = 'rate-limit-workers-admin-key-0123456789';
const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
const BURST = 10;

(targets().includes('mysql') ? describe : describe.skip)('rate limits across the workers of one instance', () => {
  let service: ServiceProcess;
  let url: string;
  let pinned: PinnedConnections;

  beforeAll(async () => {
    service = new ServiceProcess({
      DATABASE_URL: TEST_MYSQL_URL,
      JWT_SECRET_KEY: 'rate-limit-workers-jwt-secret-0123456789',
      ADMIN_API_KEYS: ADMIN_KEY,
      WEB_CONCURRENCY: '2',
      MIGRATE_ON_START: 'false',
      // One a second: the whole test takes a fraction of that window, so only the burst is let through.
      RATE_LIMIT_RPS: '1',
      RATE_LIMIT_BURST: String(BURST),
      LOGIN_MAX_FAILURES: '3',
    });
    url = await service.ready();
    pinned = new PinnedConnections(8);
  });
  afterAll(async () => {
    pinned.close();
    await service.stop();
  });

  async function createTenant(): Promise<{ name: string; token: string }> {
    const name = uniqueName('rl-workers');
    const created = await send(`${url}/api/admin/tenants`, {
      method: 'POST',
      headers: admin,
      body: { user_name: name, password: 'the-password', provisioned_capacity: 1000 },
    });
    expect(created.status).toBe(201);
    const id = (created.body as { id: number }).id;
    const token = await send(`${url}/api/admin/tenants/${id}/tokens`, {
      method: 'POST',
      headers: admin,
      body: { scopes: ['read'] },
    });
    expect(token.status).toBe(201);
    return { name, token: (token.body as { token: string }).token };
  }

  /** Waits for the access lines of `count` requests to `path`, and says how many workers answered them. */
  async function workersThatServed(path: string, count: number): Promise<number> {
    await service.waitForLine(() => service.lines.filter((l) => l.url === path && 'status' in l).length === count);
    return service.servedBy((u) => u === path).size;
  }

  it('lets exactly the burst through, however the requests are spread over the workers', async () => {
    const t = await createTenant();
    const path = '/api/quota';
    const rounds = await Promise.all(
      [0, 1, 2].map(() => pinned.each(`${url}${path}`, { headers: { Authorization: `Bearer ${t.token}` } })),
    );
    const statuses = rounds.flat().map((a) => a.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(BURST);
    expect(statuses.filter((s) => s === 429)).toHaveLength(24 - BURST);
    expect(await workersThatServed(path, 24)).toBe(2);
  });

  it('counts a user name’s failed logins on both workers as one', async () => {
    const t = await createTenant();
    const path = '/api/auth/login';
    const before = service.lines.filter((l) => l.url === path && 'status' in l).length;
    const answers = await pinned.each(`${url}${path}`, {
      method: 'POST',
      body: { user_name: t.name, password: 'wrong' },
    });
    expect(answers.map((a) => a.status).sort()).toEqual([400, 400, 400, 429, 429, 429, 429, 429]);
    expect(await workersThatServed(path, before + 8)).toBe(2);
    const right = await send(`${url}${path}`, {
      method: 'POST',
      body: { user_name: t.name, password: 'the-password' },
    });
    expect(right.status).toBe(429);
  });
});
