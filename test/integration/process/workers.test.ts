import { PinnedConnections, ServiceProcess, send } from '../../support/service-process';
import { TEST_MYSQL_URL, targets } from '../../support/targets';
import { uniqueName } from '../../support/harness';
import { serverConnection } from '../../support/mysql-admin';
import { hashPassword } from '../../../src/features/auth';

/**
 * The real forked service with two workers on MariaDB: an operator's change made through one worker applies at
 * once on the other, whatever each had cached. Requests go out on eight kept-alive connections, which the
 * primary spreads over both workers; the access log says which worker answered each, and each check asserts
 * that both did.
 */
const ADMIN_KEY = 'workers-test-admin-key-0123456789';
const admin = { Authorization: `Bearer ${ADMIN_KEY}` };

(targets().includes('mysql') ? describe : describe.skip)('access changes across the workers of one instance', () => {
  let service: ServiceProcess;
  let url: string;
  let pinned: PinnedConnections;
  let probe = 0;

  beforeAll(async () => {
    service = new ServiceProcess({
      DATABASE_URL: TEST_MYSQL_URL,
      JWT_SECRET_KEY: 'workers-test-jwt-secret-0123456789abcdef',
      ADMIN_API_KEYS: ADMIN_KEY,
      WEB_CONCURRENCY: '2',
      // The longest poll allowed: what the test sees at once cannot be the poll's doing.
      AUTH_CACHE_SECONDS: '4',
      MIGRATE_ON_START: 'false',
    });
    url = await service.ready();
    pinned = new PinnedConnections(8);
  });
  afterAll(async () => {
    pinned.close();
    await service.stop();
  });

  /**
   * A GET of a key nobody has on every connection: 404 while the token may read, else the refusal; or a DELETE
   * of it (a write): 204 while the token may write.
   */
  async function readEverywhere(
    token: string,
    method = 'GET',
  ): Promise<{ statuses: number[]; codes: unknown[]; workers: number }> {
    const key = `probe-${++probe}`;
    const answers = await pinned.each(`${url}/api/object/${key}`, {
      method,
      headers: { Authorization: `Bearer ${token}` },
    });
    // The access line is written when the response finishes: wait until every request's is there.
    await service.waitForLine(() => service.lines.filter((l) => l.url === `/api/object/${key}`).length === 8);
    return {
      statuses: [...new Set(answers.map((a) => a.status))],
      codes: [...new Set(answers.map((a) => (a.body as { code?: unknown }).code))],
      workers: service.servedBy((u) => u === `/api/object/${key}`).size,
    };
  }

  async function login(name: string, password: string): Promise<string> {
    const res = await send(`${url}/api/auth/login`, { method: 'POST', body: { user_name: name, password } });
    expect(res.status).toBe(200);
    return (res.body as { token: string }).token;
  }

  async function createTenant(): Promise<{
    id: number;
    name: string;
    loginToken: string;
    apiToken: string;
    tokenId: string;
  }> {
    const name = uniqueName('workers');
    const created = await send(`${url}/api/admin/tenants`, {
      method: 'POST',
      headers: admin,
      body: { user_name: name, password: 'first-password', provisioned_capacity: 1000 },
    });
    expect(created.status).toBe(201);
    const id = (created.body as { id: number }).id;
    const token = await send(`${url}/api/admin/tenants/${id}/tokens`, {
      method: 'POST',
      headers: admin,
      body: { scopes: ['read'] },
    });
    expect(token.status).toBe(201);
    const { token: apiToken, id: tokenId } = token.body as { token: string; id: string };
    return { id, name, loginToken: await login(name, 'first-password'), apiToken, tokenId };
  }

  const patch = (id: number, body: object) =>
    send(`${url}/api/admin/tenants/${id}`, { method: 'PATCH', headers: admin, body });

  it('suspends and resumes on both workers at once', async () => {
    const t = await createTenant();
    expect(await readEverywhere(t.apiToken)).toEqual({ statuses: [404], codes: ['OBJECT_NOT_FOUND'], workers: 2 });
    expect((await patch(t.id, { suspended: true })).status).toBe(200);
    expect(await readEverywhere(t.apiToken)).toEqual({ statuses: [403], codes: ['TENANT_SUSPENDED'], workers: 2 });
    expect((await patch(t.id, { suspended: false })).status).toBe(200);
    expect(await readEverywhere(t.apiToken)).toEqual({ statuses: [404], codes: ['OBJECT_NOT_FOUND'], workers: 2 });
  });

  it('puts a tenant in read-only mode and out of it on both workers at once', async () => {
    const t = await createTenant();
    const writeEverywhere = () => readEverywhere(t.loginToken, 'DELETE');
    expect(await writeEverywhere()).toEqual({ statuses: [204], codes: [undefined], workers: 2 });
    expect((await patch(t.id, { read_only: true })).status).toBe(200);
    expect(await writeEverywhere()).toEqual({ statuses: [403], codes: ['READ_ONLY'], workers: 2 });
    expect(await readEverywhere(t.loginToken)).toEqual({ statuses: [404], codes: ['OBJECT_NOT_FOUND'], workers: 2 });
    expect((await patch(t.id, { read_only: false })).status).toBe(200);
    expect(await writeEverywhere()).toEqual({ statuses: [204], codes: [undefined], workers: 2 });
  });

  it('after a password change refuses the old login token and accepts the new one on both workers at once', async () => {
    const t = await createTenant();
    expect(await readEverywhere(t.loginToken)).toMatchObject({ statuses: [404], workers: 2 });
    expect((await patch(t.id, { password: 'second-password' })).status).toBe(200);
    expect(await readEverywhere(t.loginToken)).toEqual({ statuses: [401], codes: ['UNAUTHORIZED'], workers: 2 });
    const fresh = await login(t.name, 'second-password');
    expect(await readEverywhere(fresh)).toEqual({ statuses: [404], codes: ['OBJECT_NOT_FOUND'], workers: 2 });
  });

  it('accepts at once a login token newer than what a worker cached, even one it learned of only by the token', async () => {
    const t = await createTenant();
    expect(await readEverywhere(t.loginToken)).toMatchObject({ statuses: [404], workers: 2 });
    // Changed behind the service's back, as another instance would: no message reaches these workers.
    const db = await serverConnection(TEST_MYSQL_URL, true);
    try {
      await db.query('UPDATE tenants SET password_hash = ?, token_version = token_version + 1 WHERE id = ?', [
        await hashPassword('third'),
        t.id,
      ]);
    } finally {
      await db.end();
    }
    const fresh = await login(t.name, 'third');
    expect(await readEverywhere(fresh)).toEqual({ statuses: [404], codes: ['OBJECT_NOT_FOUND'], workers: 2 });
  });

  it('refuses a revoked API token on both workers at once', async () => {
    const t = await createTenant();
    expect(await readEverywhere(t.apiToken)).toMatchObject({ statuses: [404], workers: 2 });
    const revoked = await send(`${url}/api/admin/tenants/${t.id}/tokens/${t.tokenId}`, {
      method: 'DELETE',
      headers: admin,
    });
    expect(revoked.status).toBe(204);
    expect(await readEverywhere(t.apiToken)).toEqual({ statuses: [401], codes: ['UNAUTHORIZED'], workers: 2 });
    expect(await readEverywhere(t.loginToken)).toMatchObject({ statuses: [404], workers: 2 });
  });

  it('refuses a deleted tenant’s tokens on both workers at once', async () => {
    const t = await createTenant();
    expect(await readEverywhere(t.apiToken)).toMatchObject({ statuses: [404], workers: 2 });
    expect(await readEverywhere(t.loginToken)).toMatchObject({ statuses: [404], workers: 2 });
    expect((await send(`${url}/api/admin/tenants/${t.id}`, { method: 'DELETE', headers: admin })).status).toBe(204);
    expect(await readEverywhere(t.apiToken)).toEqual({ statuses: [401], codes: ['UNAUTHORIZED'], workers: 2 });
    expect(await readEverywhere(t.loginToken)).toEqual({ statuses: [401], codes: ['UNAUTHORIZED'], workers: 2 });
  });
});
