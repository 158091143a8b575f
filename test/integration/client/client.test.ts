import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NotFoundError,
  PreconditionFailedError,
  QuotaExceededError,
  RateLimitedError,
  ReadOnlyError,
  TenantKv,
  TenantKvAdmin,
  TenantKvError,
  UnauthorizedError,
  type FetchLike,
} from '../../../packages/client/src';
import { uniqueName } from '../../support/harness';
import type { ServiceProcess } from '../../support/service-process';
import { targets } from '../../support/targets';
import { ADMIN_KEY, PASSWORD, collect, newTenant, serviceEnv, startService } from '../../support/tenantkv-service';

/**
 * @tenantkv/client end to end against the real forked service on each database: every method of both clients,
 * and the service's refusals as the typed errors they map to.
 */
async function rejection(promise: Promise<unknown>): Promise<TenantKvError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof TenantKvError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/** A fetch that records the URL of every request it sends. */
function recordingFetch(): { fetch: FetchLike; urls: string[] } {
  const urls: string[] = [];
  return { urls, fetch: (input, init) => (urls.push(input), fetch(input, init)) };
}

describe.each(targets())('@tenantkv/client against the forked service on %s', (target) => {
  let service: ServiceProcess;
  let url: string;
  let admin: TenantKvAdmin;

  beforeAll(async () => {
    ({ service, url } = await startService(serviceEnv(target)));
    admin = new TenantKvAdmin({ baseUrl: url, adminKey: ADMIN_KEY });
  });
  afterAll(() => service?.stop());

  describe('TenantKv', () => {
    it('logs in, puts with metadata and expiry, gets, heads and deletes', async () => {
      const { kv } = await newTenant(admin, url);
      expect(kv.token).toEqual(expect.any(String));

      const { version } = await kv.put(
        'users/42/profile',
        { plan: 'pro' },
        { metadata: { owner: 'ada' }, expiresIn: 3600 },
      );
      expect(version).toBeGreaterThan(0);
      const read = await kv.get<{ plan: string }>('users/42/profile');
      expect(read).toMatchObject({
        key: 'users/42/profile',
        value: { plan: 'pro' },
        metadata: { owner: 'ada' },
        version,
      });
      expect(read.value.plan).toBe('pro');
      expect(read.expires_in).toBeGreaterThan(3500);
      expect(read.expires_in).toBeLessThanOrEqual(3600);

      const at = Math.floor(Date.now() / 1000) + 600;
      await kv.put('a/history', [1, 'two', null], { ttl: at });
      expect(await kv.get('a/history')).toMatchObject({ value: [1, 'two', null], ttl: at });

      const head = await kv.head('users/42/profile');
      expect(head?.version).toBe(version);
      expect(head?.contentLength).toBeGreaterThan(0);
      expect(await kv.head('absent')).toBeNull();

      await kv.delete('users/42/profile');
      await kv.delete('users/42/profile');
      const gone = await rejection(kv.get('users/42/profile'));
      expect(gone).toBeInstanceOf(NotFoundError);
      expect([gone.status, gone.code]).toEqual([404, 'OBJECT_NOT_FOUND']);
    });

    it('registers itself where the operator allows it, then logs in', async () => {
      const name = uniqueName('self');
      const kv = new TenantKv({ baseUrl: url });
      expect(await kv.register(name, PASSWORD, 4096)).toEqual({
        id: expect.any(Number),
        user_name: name,
        provisioned_capacity: 4096,
      });
      await kv.login(name, PASSWORD);
      expect((await kv.quota()).provisioned).toBe(4096);
      // The code decides the class: self-registration answers a taken name with 400, as the Go service did.
      const taken = await rejection(kv.register(name, PASSWORD));
      expect([taken.constructor, taken.status, taken.code]).toEqual([ConflictError, 400, 'USER_EXISTS']);
    });

    it('writes compare-and-set: ifAbsent, ifVersion (one or any of several), ifExists; a failure carries the current version', async () => {
      const { kv } = await newTenant(admin, url);
      const v1 = (await kv.put('k', 1, { ifAbsent: true })).version;
      const taken = await rejection(kv.put('k', 2, { ifAbsent: true }));
      expect(taken).toBeInstanceOf(PreconditionFailedError);
      expect([taken.status, taken.code, (taken as PreconditionFailedError).currentVersion]).toEqual([
        412,
        'PRECONDITION_FAILED',
        v1,
      ]);

      const v2 = (await kv.put('k', 2, { ifVersion: v1 })).version;
      expect(v2).toBeGreaterThan(v1);
      const stale = (await rejection(kv.put('k', 3, { ifVersion: v1 }))) as PreconditionFailedError;
      expect(stale.currentVersion).toBe(v2);
      const v3 = (await kv.put('k', 3, { ifVersion: [v1, v2] })).version;
      expect((await kv.put('k', 4, { ifExists: true })).version).toBeGreaterThan(v3);
      const absent = (await rejection(kv.put('nothing', 1, { ifExists: true }))) as PreconditionFailedError;
      expect(absent.currentVersion).toBeNull();

      const current = (await kv.get('k')).version;
      expect(((await rejection(kv.delete('k', { ifVersion: v1 }))) as PreconditionFailedError).currentVersion).toBe(
        current,
      );
      await kv.delete('k', { ifVersion: current });
      expect(await kv.head('k')).toBeNull();
      await expect(kv.put('k', 1, { ifAbsent: true, ifVersion: 1 })).rejects.toThrow(TypeError);
    });

    it('batches: batchPut under one version, batchGet with missing keys, a failed multi-key compare-and-set, batchDelete, deletePrefix, deleteAll', async () => {
      const { kv } = await newTenant(admin, url);
      const { version } = await kv.batchPut([
        { key: 'p/a', value: 1 },
        { key: 'p/b', value: { nested: true }, metadata: { m: 1 } },
        { key: 'q/c', value: 'c', expiresIn: 60 },
      ]);
      const got = await kv.batchGet(['p/b', 'absent', 'p/a']);
      expect(got.items.map((i) => [i.key, i.value, i.version])).toEqual([
        ['p/b', { nested: true }, version],
        ['p/a', 1, version],
      ]);
      expect(got.missing).toEqual(['absent']);

      const failed = (await rejection(
        kv.batchPut([
          { key: 'p/a', value: 2, ifVersion: version },
          { key: 'p/b', value: 2, ifVersion: version - 1 },
          { key: 'q/c', value: 2, ifAbsent: true },
        ]),
      )) as PreconditionFailedError;
      expect(failed).toBeInstanceOf(PreconditionFailedError);
      expect(failed.failed).toEqual([
        { key: 'p/b', current_version: version },
        { key: 'q/c', current_version: version },
      ]);
      expect((await kv.get('p/a')).value).toBe(1);

      expect(await kv.batchDelete(['p/a', 'absent'])).toEqual({ deleted: 1 });
      await kv.batchPut([
        { key: 'p/x', value: 1 },
        { key: 'p/y', value: 2 },
      ]);
      expect(await kv.deletePrefix('p/')).toEqual({ deleted: 3 });
      expect(() => kv.deletePrefix('')).toThrow(TypeError);
      expect(await kv.deleteAll()).toEqual({ deleted: 1 });
      expect((await kv.quota()).objects).toBe(0);
    });

    it('lists every key under a prefix page after page, in byte order, with values when asked', async () => {
      const { tenant } = await newTenant(admin, url);
      const recorded = recordingFetch();
      const kv = new TenantKv({ baseUrl: url, fetch: recorded.fetch });
      await kv.login(tenant.user_name, PASSWORD);
      const keys = ['p/é', 'p/a', 'p/B', 'p/b/1', 'p/c', 'p/d', 'p/e'];
      await kv.batchPut([...keys, 'other'].map((key, i) => ({ key, value: i })));

      recorded.urls.length = 0;
      const items = await collect(kv.list({ prefix: 'p/', limit: 2 }));
      expect(items.map((i) => i.key)).toEqual([...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
      expect(items.every((i) => i.value === undefined)).toBe(true);
      expect(recorded.urls).toHaveLength(4);
      expect(recorded.urls.every((u) => u.includes('/api/objects?'))).toBe(true);

      const withValues = await collect(kv.list<number>({ prefix: 'p/', limit: 3, values: true }));
      expect(withValues.map((i) => i.value)).toEqual(items.map((i) => keys.indexOf(i.key)));
      expect((await collect(kv.list())).length).toBe(8);

      const first = await kv.listPage({ prefix: 'p/', limit: 2, count: true });
      expect([first.items.length, first.list_complete, first.count]).toEqual([2, false, 7]);
      const next = await kv.listPage({ prefix: 'p/', limit: 2, cursor: first.cursor as string });
      expect(next.items[0].key).toBe(items[2].key);
    });

    it('reads history page after page, a kept version, and forgets it', async () => {
      const { kv } = await newTenant(admin, url, { history_depth: 5 });
      const versions: number[] = [];
      for (const value of ['one', 'two', 'three']) versions.push((await kv.put('doc', value)).version);
      await kv.delete('doc');

      const history = await collect(kv.history<string>('doc', { limit: 2 }));
      expect(history.map((v) => [v.value, v.deleted])).toEqual([
        [null, true],
        ['three', false],
        ['two', false],
        ['one', false],
      ]);
      expect(history.slice(1).map((v) => v.version)).toEqual([...versions].reverse());
      expect((await kv.get('doc', { version: versions[0] })).value).toBe('one');
      expect((await kv.historyPage('doc', { limit: 1 })).cursor).toEqual(expect.any(String));

      await kv.forgetHistory('doc');
      expect(await rejection(kv.historyPage('doc'))).toBeInstanceOf(NotFoundError);
    });

    it('reads the quota and the change feed page after page', async () => {
      const { kv, tenant } = await newTenant(admin, url);
      const start = (await kv.quota()).revision;
      await kv.put('a', 'x');
      await kv.batchPut([
        { key: 'b', value: 1 },
        { key: 'c', value: 2 },
      ]);
      await kv.delete('a');
      const quota = await kv.quota();
      expect(quota).toEqual({
        provisioned: tenant.provisioned,
        utilised: 2,
        objects: 2,
        revision: start + 3,
        history_bytes: 0,
      });
      const changes = await collect(kv.changes({ since: start, limit: 1, values: true }));
      expect(changes.map((c) => [c.revision, c.type, c.key])).toEqual([
        [start + 1, 'put', 'a'],
        [start + 2, 'put', 'b'],
        [start + 2, 'put', 'c'],
        [start + 3, 'delete', 'a'],
      ]);
      expect(changes[0].value).toBe('x');
    });

    it('exports objects and NDJSON, and imports either into another tenant: the same data', async () => {
      const { kv: source } = await newTenant(admin, url);
      const at = Math.floor(Date.now() / 1000) + 3600;
      await source.batchPut(
        Array.from({ length: 25 }, (_, i) => ({
          key: `k/${String(i).padStart(2, '0')}`,
          value: { i, text: 'ü'.repeat(i) },
          ...(i % 3 === 0 ? { metadata: { n: i } } : {}),
          ...(i % 4 === 0 ? { ttl: at } : {}),
        })),
      );
      const exported = await collect(source.export());
      expect(exported).toHaveLength(25);
      expect(exported[3]).toMatchObject({ key: 'k/03', value: { i: 3, text: 'üüü' }, metadata: { n: 3 } });
      expect(await collect(source.export({ prefix: 'k/1' }))).toHaveLength(10);

      const data = (lines: { key: string; value: unknown; ttl: number; metadata: unknown }[]) =>
        lines.map(({ key, value, ttl, metadata }) => ({ key, value, ttl, metadata }));

      const { kv: fromObjects } = await newTenant(admin, url);
      expect(await fromObjects.import(source.export())).toEqual({ written: 25, skipped: 0, failed: [] });
      expect(data(await collect(fromObjects.export()))).toEqual(data(exported));

      const { kv: fromBytes } = await newTenant(admin, url);
      expect(await fromBytes.import(await source.exportStream())).toEqual({ written: 25, skipped: 0, failed: [] });
      expect(data(await collect(fromBytes.export()))).toEqual(data(exported));

      const report = await fromBytes.import(
        [
          { key: 'k/00', value: 'kept?' },
          { key: 'new', value: 1 },
        ],
        {
          mode: 'skip_existing',
        },
      );
      expect(report).toEqual({ written: 1, skipped: 1, failed: [] });
      expect((await fromBytes.get('k/00')).value).toEqual({ i: 0, text: '' });

      const bad = await fromBytes.import(['{"key":"s1","value":1}\n', 'not json\n']);
      expect(bad.written).toBe(0);
      expect(bad.failed).toEqual([expect.objectContaining({ line: 2 })]);
    });
  });

  describe('typed errors', () => {
    it('QuotaExceededError when a write would pass the quota; nothing is written', async () => {
      const { kv } = await newTenant(admin, url, { provisioned_capacity: 10 });
      const error = await rejection(kv.put('big', 'x'.repeat(20)));
      expect(error).toBeInstanceOf(QuotaExceededError);
      expect(error).toBeInstanceOf(ForbiddenError);
      expect([error.status, error.code, error.message]).toEqual([403, 'QUOTA_EXCEEDED', 'quota exceeded']);
      expect((await kv.quota()).utilised).toBe(0);
    });

    it('UnauthorizedError for a bad token or admin key, BadRequestError for bad credentials and a bad write', async () => {
      const bad = await rejection(new TenantKv({ baseUrl: url, token: 'not-a-token' }).quota());
      expect(bad).toBeInstanceOf(UnauthorizedError);
      expect(bad.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
      const wrongKey = await rejection(
        new TenantKvAdmin({ baseUrl: url, adminKey: 'wrong-admin-key-0123456789' }).tenants.page(),
      );
      expect([wrongKey.constructor, wrongKey.status]).toEqual([UnauthorizedError, 401]);

      const { kv, tenant } = await newTenant(admin, url);
      const login = await rejection(new TenantKv({ baseUrl: url }).login(tenant.user_name, 'wrong password'));
      expect([login.constructor, login.code]).toEqual([BadRequestError, 'INVALID_CREDENTIALS']);
      const ttl = await rejection(kv.put('k', 1, { ttl: Math.floor(Date.now() / 1000) + 60, expiresIn: 60 }));
      expect([ttl.constructor, ttl.code]).toEqual([BadRequestError, 'INVALID_TTL']);
    });

    it('ReadOnlyError in read-only mode (reads go on), ForbiddenError while suspended', async () => {
      const { kv, tenant } = await newTenant(admin, url);
      await kv.put('k', 1);
      expect((await admin.tenants.update(tenant.id, { read_only: true })).read_only).toBe(true);
      const readOnly = await rejection(kv.put('k', 2));
      expect(readOnly).toBeInstanceOf(ReadOnlyError);
      expect([readOnly.status, readOnly.code]).toEqual([403, 'READ_ONLY']);
      expect((await kv.get('k')).value).toBe(1);
      await admin.tenants.update(tenant.id, { read_only: false });

      const { token } = await admin.tokens.create(tenant.id, { scopes: ['read', 'write'] });
      const app = new TenantKv({ baseUrl: url, token });
      expect((await admin.tenants.suspend(tenant.id)).suspended).toBe(true);
      const suspended = await rejection(app.get('k'));
      expect([suspended.constructor, suspended.code]).toEqual([ForbiddenError, 'TENANT_SUSPENDED']);
      expect((await admin.tenants.resume(tenant.id)).suspended).toBe(false);
      expect((await app.get('k')).value).toBe(1);
    });

    it('NotFoundError and ConflictError from the admin API', async () => {
      const missing = await rejection(admin.tenants.get(2 ** 40));
      expect([missing.constructor, missing.code]).toEqual([NotFoundError, 'TENANT_NOT_FOUND']);
      const { tenant } = await newTenant(admin, url);
      const taken = await rejection(admin.tenants.create({ user_name: tenant.user_name, provisioned_capacity: 1 }));
      expect([taken.constructor, taken.status, taken.code]).toEqual([ConflictError, 409, 'USER_EXISTS']);
    });
  });

  describe('TenantKvAdmin', () => {
    it('creates, gets, lists page after page, updates every field, suspends, resumes and deletes tenants', async () => {
      const prefix = uniqueName('adm');
      const created = [];
      for (let i = 0; i < 3; i++) {
        created.push(await admin.tenants.create({ user_name: `${prefix}-${i}`, provisioned_capacity: 1000 + i }));
      }
      expect(created[0]).toMatchObject({ user_name: `${prefix}-0`, provisioned: 1000, utilised: 0, suspended: false });
      expect(await admin.tenants.get(created[1].id)).toEqual(created[1]);

      const listed = await collect(admin.tenants.list({ prefix, limit: 2 }));
      expect(listed.map((t) => t.id)).toEqual(created.map((t) => t.id));
      expect((await admin.tenants.page({ prefix, limit: 2 })).next_cursor).toEqual(expect.any(String));

      const updated = await admin.tenants.update(created[0].id, {
        provisioned_capacity: 5000,
        history_depth: 3,
        rate_limit_rps: 50,
        rate_limit_burst: 100,
        read_only: true,
        password: 'a new password',
      });
      expect(updated).toMatchObject({
        provisioned: 5000,
        history_depth: 3,
        rate_limit_rps: 50,
        rate_limit_burst: 100,
        read_only: true,
      });
      const kv = new TenantKv({ baseUrl: url });
      await kv.login(`${prefix}-0`, 'a new password');
      expect((await kv.quota()).provisioned).toBe(5000);

      expect((await admin.tenants.suspend(created[2].id)).suspended).toBe(true);
      expect((await admin.tenants.resume(created[2].id)).suspended).toBe(false);
      await admin.tenants.delete(created[2].id);
      expect(await rejection(admin.tenants.get(created[2].id))).toBeInstanceOf(NotFoundError);
      expect((await collect(admin.tenants.list({ prefix }))).map((t) => t.id)).toEqual([created[0].id, created[1].id]);
    });

    it("exports any tenant's objects, as objects and as NDJSON", async () => {
      const { kv, tenant } = await newTenant(admin, url);
      await kv.batchPut([
        { key: 'a', value: 1 },
        { key: 'b', value: { two: 2 }, metadata: { m: true } },
      ]);
      await admin.tenants.suspend(tenant.id);
      const lines = await collect(admin.tenants.export(tenant.id));
      expect(lines.map(({ key, value, metadata }) => ({ key, value, metadata }))).toEqual([
        { key: 'a', value: 1, metadata: null },
        { key: 'b', value: { two: 2 }, metadata: { m: true } },
      ]);
      const text = await new Response(await admin.tenants.exportStream(tenant.id, { prefix: 'b' })).text();
      expect(
        text
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line).key),
      ).toEqual(['b']);
    });

    it('creates, lists and revokes tokens', async () => {
      const { tenant } = await newTenant(admin, url);
      const reader = await admin.tokens.create(tenant.id, { scopes: ['read'], name: 'reporting', expires_in: 3600 });
      expect(reader).toMatchObject({ id: expect.stringMatching(/^tok_/), scopes: ['read'], token: expect.any(String) });
      const kv = new TenantKv({ baseUrl: url, token: reader.token });
      expect((await kv.quota()).objects).toBe(0);
      const scope = await rejection(kv.put('k', 1));
      expect([scope.constructor, scope.code]).toEqual([ForbiddenError, 'INSUFFICIENT_SCOPE']);

      expect((await admin.tokens.list(tenant.id)).map((t) => [t.id, t.name])).toEqual([[reader.id, 'reporting']]);
      await admin.tokens.revoke(tenant.id, reader.id);
      expect(await admin.tokens.list(tenant.id)).toEqual([]);
      expect(await rejection(kv.quota())).toBeInstanceOf(UnauthorizedError);
      const again = await rejection(admin.tokens.revoke(tenant.id, reader.id));
      expect([again.constructor, again.code]).toEqual([NotFoundError, 'TOKEN_NOT_FOUND']);
    });

    it('pages through the audit log, follows it to its end, verifies its chain; reads the metrics', async () => {
      const { tenant } = await newTenant(admin, url);
      await admin.tenants.update(tenant.id, { provisioned_capacity: 77 });
      const entries = await collect(admin.audit.entries({ limit: 1000 }));
      const mine = entries.filter((e) => e.target === `tenant:${tenant.id}`).map((e) => e.action);
      expect(mine).toEqual(['tenant.create', 'tenant.quota']);
      expect(entries.map((e) => e.id)).toEqual(entries.map((_, i) => i + 1));
      const since = entries[entries.length - 4].id;
      expect(await collect(admin.audit.entries({ since, limit: 2 }))).toEqual(entries.slice(-3));
      expect((await admin.audit.page({ since, limit: 2 })).next_since).toBe(since + 2);
      const verdict = await admin.audit.verify();
      expect(verdict.ok).toBe(true);
      expect(verdict.rows_checked).toBeGreaterThanOrEqual(entries.length);
      expect(await admin.metrics()).toMatch(/^# HELP /m);
    });
  });
});

describe.each(targets())('@tenantkv/client against a rate-limited service on %s', (target) => {
  let service: ServiceProcess;
  let url: string;

  beforeAll(async () => {
    ({ service, url } = await startService(serviceEnv(target, { RATE_LIMIT_RPS: '1', RATE_LIMIT_BURST: '2' })));
  });
  afterAll(() => service?.stop());

  it('RateLimitedError with retryAfter without retries; with them, every call succeeds after waiting Retry-After', async () => {
    const admin = new TenantKvAdmin({ baseUrl: url, adminKey: ADMIN_KEY });
    const name = uniqueName('limited');
    const tenant = await admin.tenants.create({ user_name: name, provisioned_capacity: 1000 });
    const { token } = await admin.tokens.create(tenant.id, { scopes: ['read', 'write'] });

    const impatient = new TenantKv({ baseUrl: url, token, maxRetries: 0 });
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => impatient.quota()));
    const refused = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason);
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error).toBeInstanceOf(RateLimitedError);
      expect([error.status, error.code, error.attempts]).toEqual([429, 'RATE_LIMITED', 1]);
      expect(error.retryAfter).toBeGreaterThanOrEqual(1);
      expect(error.headers.get('ratelimit-policy')).toMatch(/"default";q=1;w=1/);
    }

    const statuses: number[] = [];
    const patient = new TenantKv({
      baseUrl: url,
      token,
      // One request a second gets through: the last of three waits for the third window at most.
      maxRetries: 8,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        statuses.push(res.status);
        return res;
      },
    });
    const quotas = await Promise.all(Array.from({ length: 3 }, () => patient.quota()));
    expect(quotas.every((q) => q.provisioned === 1000)).toBe(true);
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
  });
});
