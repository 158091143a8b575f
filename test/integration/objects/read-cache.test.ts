import {
  api,
  describeTargets,
  expectError,
  harness,
  listen,
  makeTenant,
  objectPath,
  request,
  type Harness,
  type TestTenant,
} from '../../support/harness';
import { PinnedConnections, ServiceProcess, send } from '../../support/service-process';
import { TEST_MYSQL_URL, targets } from '../../support/targets';
import { eventually } from '../../support/sse-client';

/**
 * Eventual reads (issue 16): `?consistency=eventual` may be answered from the serving process's cache, which
 * holds the process's own writes at once, other processes' writes within CACHE_MAX_STALENESS_MS (through the
 * change feed's poll), never an expired object and never another tenant's; a process that cannot confirm the
 * bound answers from the database. The cache's memory accounting is in test/unit/objects/read-cache.test.ts.
 */
const ADMIN_KEY = 'admin-key-read-cache-aaaaaaaaaaaaaaaaa';
const asAdmin = { Authorization: `Bearer ${ADMIN_KEY}` };

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: { value?: unknown; version?: number; items?: { key: string; value: unknown }[]; missing?: string[] };
}

const eventual = (h: Harness, t: TestTenant, key: string, headers: Record<string, string> = {}) =>
  request(h.app)
    .get(`${objectPath(key)}?consistency=eventual`)
    .set({ ...t.auth, ...headers });
const eventualBatch = (h: Harness, t: TestTenant, keys: string[]) =>
  request(h.app).post('/api/batch/get?consistency=eventual').set(t.auth).send({ keys });
const via = (res: Answer): [string, string | undefined] => [res.headers['x-consistency'], res.headers.age];
const values = (res: Answer): unknown[] => (res.body.items ?? []).map((item) => item.value);

/** Changes a stored value behind the service's back (no revision, no change record): only the database sees it. */
async function behindTheBack(h: Harness, t: TestTenant, key: string, value: unknown): Promise<void> {
  const changed = await h.db
    .knex('objects')
    .where({ tenant_id: t.id, k: key })
    .update({ value: JSON.stringify(value) });
  expect(changed).toBe(1);
}

describeTargets(
  'eventual reads',
  (h) => {
    it('answers from the cache once it holds the object, and says which path answered', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      await kv.put('a', 1).expect(201);
      const miss = await eventual(h, t, 'a').expect(200);
      expect([miss.body.value, via(miss)]).toEqual([1, ['strong', undefined]]);
      const hit = await eventual(h, t, 'a').expect(200);
      expect([hit.body, via(hit)]).toEqual([
        { key: 'a', value: 1, ttl: 0, expires_in: 0, version: 1 },
        ['eventual', '0'],
      ]);
      expect(hit.headers.etag).toBe('"1"');

      // Only the database sees this: the cache answers eventual reads, the database strong ones.
      await behindTheBack(h, t, 'a', 'changed');
      expect((await eventual(h, t, 'a').expect(200)).body.value).toBe(1);
      const strong = await kv.get('a').expect(200);
      expect([strong.body.value, via(strong)]).toEqual(['changed', ['strong', undefined]]);
      const explicit = await request(h.app)
        .get(`${objectPath('a')}?consistency=strong`)
        .set(t.auth)
        .expect(200);
      expect([explicit.body.value, via(explicit)]).toEqual(['changed', ['strong', undefined]]);

      const head = await request(h.app)
        .head(`${objectPath('a')}?consistency=eventual`)
        .set(t.auth)
        .expect(200);
      expect([via(head), head.headers['content-length']]).toEqual([['eventual', '0'], String(hit.text.length)]);

      // Absence is cached too.
      expectError(await eventual(h, t, 'nothing'), 404, 'OBJECT_NOT_FOUND');
      const absent = await eventual(h, t, 'nothing');
      expectError(absent, 404, 'OBJECT_NOT_FOUND');
      expect(via(absent)).toEqual(['eventual', '0']);

      expectError(
        await request(h.app)
          .get(`${objectPath('a')}?consistency=sometimes`)
          .set(t.auth),
        400,
        'VALIDATION_FAILED',
      );
    });

    it('shows a tenant its own writes through this process at once: put, batch, delete, batch and prefix delete', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      const read = async (key: string): Promise<unknown> => {
        const res = await eventual(h, t, key);
        return res.status === 404 ? 'absent' : res.body.value;
      };
      const keys = ['p', 'b1', 'b2', 'd', 'm1', 'm2', 'dir/1', 'dir/2', 'new'];
      await kv.batch(keys.map((key) => ({ key, value: 'old' }))).expect(201);
      // Twice: the second is the cache's.
      for (const key of keys) await read(key);
      for (const key of keys) expect(via(await eventual(h, t, key))).toEqual(['eventual', '0']);

      await kv.put('p', 'put').expect(201);
      await kv
        .batch([
          { key: 'b1', value: 'batch' },
          { key: 'b2', value: 'batch' },
        ])
        .expect(201);
      await kv.del('d').expect(204);
      await request(h.app)
        .post('/api/batch/delete')
        .set(t.auth)
        .send({ keys: ['m1', 'm2'] })
        .expect(200);
      await request(h.app).delete('/api/objects?prefix=dir%2F').set(t.auth).expect(200);
      expect(await Promise.all(keys.map(read))).toEqual([
        'put',
        'batch',
        'batch',
        'absent',
        'absent',
        'absent',
        'absent',
        'absent',
        'old',
      ]);
      // The cached absence of a key goes when it is written.
      await kv.put('never', 'was').expect(201);
      expect(await read('never')).toBe('was');
      await request(h.app).delete(objectPath('new')).set(t.auth).expect(204);
      expect(await read('new')).toBe('absent');
      await kv.put('new', 'again').expect(201);
      expect(await read('new')).toBe('again');
    });

    it('answers If-None-Match revalidation from the cache', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('etag', 'v').expect(201);
      await eventual(h, t, 'etag').expect(200);
      await behindTheBack(h, t, 'etag', 'unseen');
      const revalidated = await eventual(h, t, 'etag', { 'If-None-Match': '"1"' }).expect(304);
      expect([via(revalidated), revalidated.headers.etag, revalidated.text]).toEqual([['eventual', '0'], '"1"', '']);
      await api(h, t).put('etag', 'w').expect(201);
      const changed = await eventual(h, t, 'etag', { 'If-None-Match': '"1"' }).expect(200);
      expect([changed.body.value, changed.headers.etag]).toEqual(['w', '"2"']);
    });

    it('never serves an expired object', async () => {
      const t = await makeTenant(h);
      await request(h.app).post('/api/object').set(t.auth).send({ key: 'brief', value: 1, expires_in: 5 }).expect(201);
      await eventual(h, t, 'brief').expect(200);
      expect(via(await eventual(h, t, 'brief').expect(200))).toEqual(['eventual', '0']);
      expect((await eventualBatch(h, t, ['brief']).expect(200)).body.items).toHaveLength(1);
      h.clock.offsetSeconds = 5;
      expectError(await eventual(h, t, 'brief'), 404, 'OBJECT_NOT_FOUND');
      expect((await eventualBatch(h, t, ['brief']).expect(200)).body).toEqual({ items: [], missing: ['brief'] });
    });

    it('keeps tenants apart: the same key of two tenants, each sees its own', async () => {
      const [one, two, three] = [await makeTenant(h), await makeTenant(h), await makeTenant(h)];
      await api(h, one).put('same', 'one').expect(201);
      await api(h, two).put('same', 'two').expect(201);
      for (let round = 0; round < 2; round++) {
        expect((await eventual(h, one, 'same').expect(200)).body.value).toBe('one');
        expect((await eventual(h, two, 'same').expect(200)).body.value).toBe('two');
        expectError(await eventual(h, three, 'same'), 404, 'OBJECT_NOT_FOUND');
        expect((await eventualBatch(h, two, ['same']).expect(200)).body.items).toEqual([
          expect.objectContaining({ key: 'same', value: 'two' }),
        ]);
      }
    });

    it('batch get: cached keys from the cache, the rest from the database, Age the oldest cached', async () => {
      const t = await makeTenant(h);
      await api(h, t)
        .batch([
          { key: 'x', value: 1 },
          { key: 'y', value: 2 },
        ])
        .expect(201);
      const first = await eventualBatch(h, t, ['x', 'y', 'z']).expect(200);
      expect([values(first), first.body.missing, via(first)]).toEqual([[1, 2], ['z'], ['strong', undefined]]);
      await behindTheBack(h, t, 'x', 'unseen');
      const cached = await eventualBatch(h, t, ['z', 'y', 'x']).expect(200);
      expect([values(cached), cached.body.missing, via(cached)]).toEqual([[2, 1], ['z'], ['eventual', '0']]);
      await api(h, t).put('z', 3).expect(201);
      const mixed = await eventualBatch(h, t, ['x', 'z']).expect(200);
      expect([values(mixed), via(mixed)]).toEqual([
        [1, 3],
        ['eventual', '0'],
      ]);
      const strong = await request(h.app)
        .post('/api/batch/get')
        .set(t.auth)
        .send({ keys: ['x'] })
        .expect(200);
      expect([values(strong), via(strong)]).toEqual([['unseen'], ['strong', undefined]]);
    });

    it('authorizes every request: a suspended or deleted tenant is refused, whatever is cached', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('a', 1).expect(201);
      await eventual(h, t, 'a').expect(200);
      await eventual(h, t, 'a').expect(200);
      await request(h.app).patch(`/api/admin/tenants/${t.id}`).set(asAdmin).send({ suspended: true }).expect(200);
      expectError(await eventual(h, t, 'a'), 403, 'TENANT_SUSPENDED');
      expectError(await eventualBatch(h, t, ['a']), 403, 'TENANT_SUSPENDED');

      const deleted = await makeTenant(h);
      await api(h, deleted).put('a', 1).expect(201);
      await eventual(h, deleted, 'a').expect(200);
      expect(via(await eventual(h, deleted, 'a').expect(200))).toEqual(['eventual', '0']);
      await request(h.app).delete(`/api/admin/tenants/${deleted.id}`).set(asAdmin).expect(204);
      expectError(await eventual(h, deleted, 'a'), 401);
      expectError(await eventualBatch(h, deleted, ['a']), 401);
    });
  },
  // No poll within a test: what the cache shows, this process did (or the bound let it keep).
  { env: { ADMIN_API_KEYS: ADMIN_KEY, CHANGE_POLL_MS: '600000', CACHE_MAX_STALENESS_MS: '600000' } },
);

describe.each(targets())('eventual reads without a cache on %s', (target) => {
  it('READ_CACHE_MB=0: every read is the database’s', async () => {
    const h = await harness(target, { env: { READ_CACHE_MB: '0' } });
    try {
      const t = await makeTenant(h);
      await api(h, t).put('a', 1).expect(201);
      await eventual(h, t, 'a').expect(200);
      await behindTheBack(h, t, 'a', 2);
      const res = await eventual(h, t, 'a').expect(200);
      expect([res.body.value, via(res)]).toEqual([2, ['strong', undefined]]);
      expect(via(await eventualBatch(h, t, ['a']).expect(200))).toEqual(['strong', undefined]);
    } finally {
      await h.close();
    }
  });
});

const BOUND_MS = 1000;
const INSTANCE_ENV = { CHANGE_POLL_MS: '20', CACHE_MAX_STALENESS_MS: String(BOUND_MS) };

describe.each(targets())('eventual reads across instances on %s', (target) => {
  let a: Harness;
  let b: Harness;
  let server: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    a = await harness(target, { env: INSTANCE_ENV });
    b = await harness(target, { env: INSTANCE_ENV });
    server = await listen(b);
  });
  afterAll(async () => {
    await server.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('brings another instance’s write into the cache long before the bound', async () => {
    const t = await makeTenant(a);
    for (let round = 0; round < 5; round++) {
      const key = `k${round}`;
      await api(a, t).put(key, 'old').expect(201);
      // Fresh in B's cache now: without the feed it would stay there for the whole bound.
      await eventual(b, t, key).expect(200);
      expect(via(await eventual(b, t, key).expect(200))).toEqual(['eventual', '0']);
      await api(a, t).put(key, 'new').expect(201);
      const acked = performance.now();
      await eventually(async () => (await eventual(b, t, key)).body.value === 'new', `${key} on B`, 5000, 5);
      expect(performance.now() - acked).toBeLessThan(BOUND_MS / 2);
    }
  });

  it('never answers with a value older than the bound, under a storm of writes through the other instance', async () => {
    const t = await makeTenant(a);
    const keys = ['s0', 's1', 's2', 's3'];
    await api(a, t)
      .batch(keys.map((key) => ({ key, value: 0 })))
      .expect(201);
    // Per key: each acknowledged version and when; each answer B gave and when it was sent.
    const acks = new Map(keys.map((k) => [k, [] as { version: number; at: number }[]]));
    const answers: { key: string; sentAt: number; version: number; via: string }[] = [];
    const until = performance.now() + 3 * BOUND_MS;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; performance.now() < until; i++) {
        const key = keys[(w + i) % keys.length];
        const res = await api(a, t).put(key, i).expect(201);
        acks.get(key)?.push({ version: Number(res.headers.etag.replace(/"/g, '')), at: performance.now() });
      }
    };
    const reader = async (r: number): Promise<void> => {
      for (let i = 0; performance.now() < until; i++) {
        const key = keys[(r + i) % keys.length];
        const sentAt = performance.now();
        const res = await send(`${server.url}${objectPath(key)}?consistency=eventual`, { headers: t.auth });
        expect(res.status).toBe(200);
        answers.push({
          key,
          sentAt,
          version: (res.body as { version: number }).version,
          via: String(res.headers['x-consistency']),
        });
      }
    };
    await Promise.all([...[0, 1].map(writer), ...[0, 1, 2, 3].map(reader)]);
    let stalest = 0;
    for (const answer of answers) {
      // The newest version of the key acknowledged before the answer's read was sent, less the bound.
      const due = (acks.get(answer.key) ?? []).filter((ack) => ack.at < answer.sentAt - BOUND_MS);
      const owed = Math.max(0, ...due.map((ack) => ack.version));
      expect(answer.version).toBeGreaterThanOrEqual(owed);
      // How long the first write it did not show had been acknowledged.
      const missed = (acks.get(answer.key) ?? []).find((ack) => ack.version > answer.version && ack.at < answer.sentAt);
      if (missed) stalest = Math.max(stalest, answer.sentAt - missed.at);
    }
    expect(stalest).toBeLessThanOrEqual(BOUND_MS);
    // The cache did answer: this was not the database answering every time.
    expect(answers.filter((x) => x.via === 'eventual').length).toBeGreaterThan(answers.length / 4);
    expect(acks.get('s0')?.length).toBeGreaterThan(10);
  });

  it('answers from the database once the bound has passed, when its feed has stopped', async () => {
    const stalled = await harness(target, { env: INSTANCE_ENV });
    try {
      const t = await makeTenant(a);
      await api(a, t).put('f', 'old').expect(201);
      await eventual(stalled, t, 'f').expect(200);
      expect(via(await eventual(stalled, t, 'f').expect(200))).toEqual(['eventual', '0']);
      // The process's feed stops polling (the poll under way, if any, ends first): it can no longer confirm the bound.
      stalled.container.feed.close();
      await stalled.container.feed.idle();
      const stoppedAt = performance.now();
      await api(a, t).put('f', 'new').expect(201);
      const answers: { sentAt: number; value: unknown; via: string }[] = [];
      await eventually(
        async () => {
          const sentAt = performance.now();
          const res = await eventual(stalled, t, 'f').expect(200);
          answers.push({ sentAt, value: res.body.value, via: res.headers['x-consistency'] });
          return res.headers['x-consistency'] === 'strong' && sentAt > stoppedAt + BOUND_MS;
        },
        'strong answers past the bound',
        BOUND_MS * 5,
        5,
      );
      // Within the bound, the cache's (older) answer; past it, the database's (and what the cache keeps of it).
      expect(answers[0]).toMatchObject({ value: 'old', via: 'eventual' });
      const late = answers.filter((x) => x.sentAt > stoppedAt + BOUND_MS);
      expect(late.length).toBeGreaterThan(0);
      expect(late.map((x) => x.value)).toEqual(late.map(() => 'new'));
      expect(answers.filter((x) => x.value === 'old').every((x) => x.via === 'eventual')).toBe(true);
    } finally {
      await stalled.close();
    }
  });
});

(targets().includes('mysql') ? describe : describe.skip)('eventual reads of the real forked service', () => {
  let service: ServiceProcess;
  let url: string;
  let pinned: PinnedConnections;
  beforeAll(async () => {
    service = new ServiceProcess({
      DATABASE_URL: TEST_MYSQL_URL,
      JWT_SECRET_KEY: 'read-cache-test-jwt-secret-0123456789abcdef',
      ADMIN_API_KEYS: ADMIN_KEY,
      WEB_CONCURRENCY: '2',
      MIGRATE_ON_START: 'false',
      // Longer than the test: what reaches one worker's cache from the other came over the worker bus.
      CHANGE_POLL_MS: '600000',
      CACHE_MAX_STALENESS_MS: '600000',
    });
    url = await service.ready();
    pinned = new PinnedConnections(8);
  });
  afterAll(async () => {
    pinned.close();
    await service.stop();
  });

  it('drops a key from the sibling worker’s cache when one worker writes it', async () => {
    const name = `cache-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;
    expect(
      (
        await send(`${url}/api/admin/tenants`, {
          method: 'POST',
          headers: asAdmin,
          body: { user_name: name, password: 'cache-password', provisioned_capacity: 100_000 },
        })
      ).status,
    ).toBe(201);
    const login = await send(`${url}/api/auth/login`, {
      method: 'POST',
      body: { user_name: name, password: 'cache-password' },
    });
    const auth = { Authorization: `Bearer ${(login.body as { token: string }).token}` };
    const probes = await Promise.all(
      pinned.agents.map((agent, i) => send(`${url}/api/object/probe-${i}`, { headers: auth, agent })),
    );
    expect(probes.map((p) => p.status)).toEqual(Array(8).fill(404));
    const workerOf = await Promise.all(
      pinned.agents.map(async (_, i) => (await service.waitForLine((l) => l.url === `/api/object/probe-${i}`)).pid),
    );
    const writer = pinned.agents[0];
    const reader = pinned.agents[workerOf.findIndex((pid) => pid !== workerOf[0])];
    const read = async (agent: typeof writer) => {
      const res = await send(`${url}/api/object/shared?consistency=eventual`, { headers: auth, agent });
      return [(res.body as { value?: unknown }).value, res.headers['x-consistency']];
    };
    const write = async (agent: typeof writer, value: string) =>
      expect(
        (await send(`${url}/api/object`, { method: 'POST', headers: auth, body: { key: 'shared', value }, agent }))
          .status,
      ).toBe(201);

    await write(writer, 'one');
    // Both caches hold it (the writer's message may reach the reader after its first read, and drop it once more).
    for (const agent of [reader, writer]) {
      await eventually(async () => (await read(agent))[1] === 'eventual', 'a cached answer', 10_000, 5);
      expect(await read(agent)).toEqual(['one', 'eventual']);
    }
    await write(writer, 'two');
    // Its own worker: at once, before the write was acknowledged.
    expect((await read(writer))[0]).toBe('two');
    // The sibling: as soon as the message arrives, never waiting for a poll or the bound.
    await eventually(async () => (await read(reader))[0] === 'two', 'the write on the sibling', 10_000, 5);
    await write(reader, 'three');
    expect((await read(reader))[0]).toBe('three');
    await eventually(async () => (await read(writer))[0] === 'three', 'the write on the sibling', 10_000, 5);
  });
});
