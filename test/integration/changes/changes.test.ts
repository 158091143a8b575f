import http from 'node:http';
import {
  api,
  describeTargets,
  expectError,
  harness,
  listen,
  makeTenant,
  request,
  valueOfSize,
  writeExpiredInDb,
  type Harness,
  type TestTenant,
} from '../../support/harness';
import { PinnedConnections, ServiceProcess, send } from '../../support/service-process';
import { TEST_MYSQL_URL, targets } from '../../support/targets';
import { SseStream, eventually } from '../../support/sse-client';

/**
 * The change feed (issue 11): every committed change of a tenant reaches its streams, in revision order, a batch's
 * items together, only the tenant's own and only under the prefix; a stream resumes after Last-Event-ID or `since`
 * with no gap, and hears 410 when retention has dropped what it asks for; the same changes as JSON pages, which
 * never split a revision; the per-tenant limit on streams; a suspended tenant's stream is ended. Changes made
 * through another instance on the same database reach the stream too.
 */
const ADMIN_KEY = 'admin-key-changes-aaaaaaaaaaaaaaaaaaaa';
const asAdmin = { Authorization: `Bearer ${ADMIN_KEY}` };
const ENV = {
  ADMIN_API_KEYS: ADMIN_KEY,
  CHANGE_POLL_MS: '20',
  CHANGE_RETENTION_SECONDS: '60',
  MAX_WATCHERS_PER_TENANT: '3',
};

describeTargets(
  'the change feed',
  (h) => {
    let server: { url: string; close(): Promise<void> };
    const streams: SseStream[] = [];
    beforeAll(async () => {
      server = await listen(h);
    });
    afterEach(() => {
      for (const s of streams.splice(0)) s.close();
    });
    afterAll(() => server.close());

    async function watch(t: TestTenant, query = '', headers: Record<string, string> = {}): Promise<SseStream> {
      const s = await SseStream.open(server.url, `/api/watch${query}`, { ...t.auth, ...headers });
      streams.push(s);
      return s;
    }
    const version = (res: { headers: Record<string, string> }): number => Number(res.headers.etag.replace(/"/g, ''));

    it('streams each change as it commits: a batch’s items together with the id on the last; values when asked', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      const plain = await watch(t);
      const withValues = await watch(t, '?values=true');
      expect(plain.headers['content-type']).toMatch(/^text\/event-stream/);
      await kv.put('a', { n: 1 }).expect(201);
      await kv.batch([
        { key: 'b', value: 'bee' },
        { key: 'c', value: [1, 2] },
      ]);
      await kv.del('a').expect(204);
      for (const s of [plain, withValues]) await s.waitForRevision(3);

      expect(plain.changes.map(({ type, key, version, id, size }) => ({ type, key, version, id, size }))).toEqual([
        { type: 'put', key: 'a', version: 1, id: '1', size: 7 },
        { type: 'put', key: 'b', version: 2, id: undefined, size: 5 },
        { type: 'put', key: 'c', version: 2, id: '2', size: 5 },
        { type: 'delete', key: 'a', version: 3, id: '3', size: 7 },
      ]);
      expect(plain.changes.every((c) => c.value === undefined)).toBe(true);
      expect(withValues.changes.map((c) => c.value)).toEqual([{ n: 1 }, 'bee', [1, 2], undefined]);
    });

    it('gives a tenant only its own changes, and only those under the prefix', async () => {
      const [t, other] = [await makeTenant(h), await makeTenant(h)];
      const mine = await watch(t, '?prefix=users%2F');
      const theirs = await watch(other);
      await api(h, other).put('users/1', 'theirs').expect(201);
      await api(h, t).put('other', 'not under the prefix').expect(201);
      await api(h, t).put('users/1', 'mine').expect(201);
      await api(h, other).put('users/2', 'theirs').expect(201);
      await mine.waitForRevision(2);
      await theirs.waitForRevision(2);
      expect(mine.changes.map((c) => [c.key, c.version])).toEqual([['users/1', 2]]);
      expect(theirs.changes.map((c) => [c.key, c.version])).toEqual([
        ['users/1', 1],
        ['users/2', 2],
      ]);
    });

    it('resumes after Last-Event-ID (which wins over since) or since, with every change after it and no gap', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      for (let i = 1; i <= 5; i++) await kv.put(`k${i}`, i).expect(201);

      const resumed = await watch(t, '?since=4', { 'Last-Event-ID': '2' });
      const since = await watch(t, '?since=4');
      const fromNow = await watch(t);
      await kv.put('k6', 6).expect(201);
      for (const s of [resumed, since, fromNow]) await s.waitForRevision(6);
      expect(resumed.changes.map((c) => c.version)).toEqual([3, 4, 5, 6]);
      expect(since.changes.map((c) => c.version)).toEqual([5, 6]);
      expect(fromNow.changes.map((c) => c.version)).toEqual([6]);
      expect(resumed.lastEventId).toBe('6');
    });

    it('resumes after a disconnect mid-storm with exactly the database’s changes: no gap, no duplicate', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      let writing = true;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; writing; i++) {
          const key = `w${w}-${i % 5}`;
          if (i % 4 === 3) await kv.del(key).expect(204);
          else if (i % 4 === 2)
            await kv
              .batch([
                { key, value: i },
                { key: `${key}-b`, value: -i },
              ])
              .expect(201);
          else await kv.put(key, i).expect(201);
        }
      };
      const writers = [0, 1, 2].map(writer);
      // What a client keeps of a stream: the events up to the last one with an id (a revision cut off half-way
      // comes again whole after the resumption).
      const received: { type: string; key: string; version: number }[] = [];
      let last = '0';
      try {
        for (let cut = 0; cut < 4; cut++) {
          const s = await watch(t, '', { 'Last-Event-ID': last });
          const seen = received.length;
          await s.waitFor((x) => x.changes.filter((c) => c.id !== undefined).length >= 5, 'five revisions');
          s.close();
          const kept = s.changes;
          const end = kept.map((c) => c.id !== undefined).lastIndexOf(true);
          received.push(...kept.slice(0, end + 1).map(({ type, key, version }) => ({ type, key, version })));
          last = kept[end].id as string;
          expect(received.length).toBeGreaterThan(seen);
        }
      } finally {
        writing = false;
        await Promise.all(writers);
      }
      const rows = await h.db
        .knex('changes')
        .select('revision', 'type', 'k')
        .where('tenant_id', t.id)
        .andWhere('revision', '<=', Number(last))
        .orderBy(['revision', 'seq']);
      expect(received).toEqual(
        rows.map((r: Record<string, unknown>) => ({
          type: r.type,
          key: h.db.dialect.keyText(r.k),
          version: Number(r.revision),
        })),
      );
    });

    it('tells a stream that does not read to resume later (overflow), and it resumes from its last id', async () => {
      const t = await makeTenant(h, 64 * 1024 * 1024);
      const kv = api(h, t);
      const slow = await watch(t, '?values=true');
      slow.pause();
      // Far more than the socket's buffers and the hub's bound together.
      const batches = 8;
      for (let b = 1; b <= batches; b++) {
        const items = Array.from({ length: 48 }, (_, i) => ({ key: `big-${i}`, value: valueOfSize(64 * 1024) }));
        await kv.batch(items).expect(201);
      }
      // The hub feeds every stream of a tenant in the same pass: once this one has the last revision, the slow
      // stream has been dealt with too.
      await (await watch(t, '?since=0')).waitForRevision(batches);
      slow.resume();
      await slow.waitForEnd();
      const last = slow.events.at(-1);
      expect(last?.event).toBe('overflow');
      const resumeFrom = Number(slow.lastEventId ?? '0');
      expect(last?.data.revision).toBe(resumeFrom);
      expect(resumeFrom).toBeLessThan(batches);
      // Every revision it was given came whole.
      for (let v = 1; v <= resumeFrom; v++) expect(slow.changes.filter((c) => c.version === v).length).toBe(48);
      const again = await watch(t, '', { 'Last-Event-ID': String(resumeFrom) });
      await again.waitForRevision(batches);
      expect([...new Set(again.changes.map((c) => c.version))]).toEqual(
        Array.from({ length: batches - resumeFrom }, (_, i) => resumeFrom + i + 1),
      );
    });

    it('records an expired object’s purge as an expire change', async () => {
      const t = await makeTenant(h);
      const s = await watch(t);
      await writeExpiredInDb(h, (ttl) => api(h, t).put('gone', 'soon', ttl).expect(201));
      await h.container.purge.runOnce();
      await s.waitFor((x) => x.changes.some((c) => c.type === 'expire'), 'the expire change');
      expect(s.changes.map((c) => [c.type, c.key])).toEqual([
        ['put', 'gone'],
        ['expire', 'gone'],
      ]);
    });

    it('refuses what it cannot serve: a revision after the current one, a bad Last-Event-ID, no event-stream accept', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('a', 1).expect(201);
      const ahead = await watch(t, '?since=2');
      expect([ahead.status, ahead.body?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(ahead.body?.message).toMatch(/^since: revision 2 is after the tenant's current revision 1/);
      const bad = await watch(t, '', { 'Last-Event-ID': 'abc' });
      expect([bad.status, bad.body?.code]).toEqual([400, 'VALIDATION_FAILED']);
      expect(bad.body?.message).toMatch(/^Last-Event-ID:/);
      expectError(
        await request(h.app).get('/api/watch').set(t.auth).set('Accept', 'application/json'),
        406,
        'NOT_ACCEPTABLE',
      );
      expectError(await request(h.app).get('/api/changes?since=2').set(t.auth), 400, 'VALIDATION_FAILED');
    });

    it('answers 410 with oldest_revision once retention has dropped the changes asked for, on the stream and the pages', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      await kv.put('a', 1).expect(201);
      await kv.put('b', 2).expect(201);
      h.clock.offsetSeconds = 120;
      expect(await h.container.retention.runOnce()).toBeGreaterThanOrEqual(2);
      h.clock.offsetSeconds = 0;
      await kv.put('c', 3).expect(201);

      const gone = await watch(t, '?since=1');
      expect([gone.status, gone.body?.code, gone.body?.oldest_revision]).toEqual([410, 'REVISION_COMPACTED', 2]);
      const page = await request(h.app).get('/api/changes?since=0').set(t.auth);
      expectError(page, 410, 'REVISION_COMPACTED');
      const kept = await watch(t, '?since=2');
      await kept.waitForRevision(3);
      expect(kept.changes.map((c) => [c.key, c.version])).toEqual([['c', 3]]);
      const rest = await request(h.app).get('/api/changes?since=2').set(t.auth).expect(200);
      expect(rest.body).toEqual({
        changes: [{ revision: 3, type: 'put', key: 'c', version: 3, ttl: 0, size: 1 }],
        revision: 3,
        more: false,
      });
    });

    it('pages the same changes as JSON without ever splitting a revision', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      await kv.put('a', 1).expect(201);
      const batch = await kv.batch(['x', 'y', 'z'].map((key) => ({ key, value: key })));
      expect(version(batch)).toBe(2);
      await kv.del('a').expect(204);
      const page = async (since: number) =>
        (await request(h.app).get(`/api/changes?since=${since}&limit=2`).set(t.auth).expect(200)).body as {
          changes: { revision: number; key: string; type: string }[];
          revision: number;
          more: boolean;
        };
      const first = await page(0);
      expect([first.changes.map((c) => c.key), first.revision, first.more]).toEqual([['a'], 1, true]);
      const second = await page(first.revision);
      expect([second.changes.map((c) => c.key), second.revision, second.more]).toEqual([['x', 'y', 'z'], 2, true]);
      const third = await page(second.revision);
      expect([third.changes.map((c) => [c.type, c.key]), third.revision, third.more]).toEqual([
        [['delete', 'a']],
        3,
        false,
      ]);
    });

    it('holds a tenant to MAX_WATCHERS_PER_TENANT streams, and frees a slot when one goes away', async () => {
      const [t, other] = [await makeTenant(h), await makeTenant(h)];
      const first = await watch(t);
      await watch(t);
      await watch(t);
      const fourth = await watch(t);
      expect([fourth.status, fourth.body?.code]).toEqual([429, 'TOO_MANY_WATCHERS']);
      expect(fourth.body?.message).toBe('at most 3 change streams may be open per tenant');
      expect((await watch(other)).status).toBe(200);
      first.close();
      await eventually(async () => {
        const again = await watch(t);
        return again.status === 200;
      }, 'a slot freed by the closed stream');
    });

    it('gives back the slot of a stream whose client leaves before the stream starts', async () => {
      const t = await makeTenant(h);
      // Each request is cut as soon as it is sent, wherever the service is in admitting it.
      for (let i = 0; i < 12; i++) {
        await new Promise<void>((resolve) => {
          const req = http.get(new URL('/api/watch', server.url), {
            headers: { Accept: 'text/event-stream', ...t.auth },
          });
          req.on('error', () => resolve());
          req.on('socket', (socket) => socket.once('connect', () => setImmediate(() => req.destroy())));
        });
      }
      // MAX_WATCHERS_PER_TENANT is 3 here: every slot comes back, so three streams open at once again.
      await eventually(async () => {
        const open = [await watch(t), await watch(t), await watch(t)];
        for (const s of open) s.close();
        return open.every((s) => s.status === 200);
      }, 'three free slots');
    });

    it('ends the stream of a suspended tenant, of a revoked token, and of a deleted tenant', async () => {
      const suspended = await makeTenant(h);
      const s = await watch(suspended);
      await request(h.app)
        .patch(`/api/admin/tenants/${suspended.id}`)
        .set(asAdmin)
        .send({ suspended: true })
        .expect(200);
      await s.waitForEnd();
      expect([s.events.at(-1)?.event, s.events.at(-1)?.data.code]).toEqual(['error', 'TENANT_SUSPENDED']);

      const owner = await makeTenant(h);
      const issued = await request(h.app)
        .post(`/api/admin/tenants/${owner.id}/tokens`)
        .set(asAdmin)
        .send({ scopes: ['read'] })
        .expect(201);
      const byToken = await SseStream.open(server.url, '/api/watch', { Authorization: `Bearer ${issued.body.token}` });
      streams.push(byToken);
      expect(byToken.status).toBe(200);
      await request(h.app).delete(`/api/admin/tenants/${owner.id}/tokens/${issued.body.id}`).set(asAdmin).expect(204);
      await byToken.waitForEnd();
      expect([byToken.events.at(-1)?.event, byToken.events.at(-1)?.data.code]).toEqual(['error', 'UNAUTHORIZED']);

      const deleted = await makeTenant(h);
      const d = await watch(deleted);
      await request(h.app).delete(`/api/admin/tenants/${deleted.id}`).set(asAdmin).expect(204);
      await d.waitForEnd();
      expect(d.changes).toEqual([]);
    });
  },
  { env: ENV },
);

(targets().includes('mysql') ? describe : describe.skip)('the change feed across instances', () => {
  let a: Harness;
  let b: Harness;
  let server: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    a = await harness('mysql', { env: ENV });
    b = await harness('mysql', { env: ENV });
    server = await listen(b);
  });
  afterAll(async () => {
    await server.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('delivers to a stream on one instance every change written through the other, in order, with no gap', async () => {
    const t = await makeTenant(a);
    const s = await SseStream.open(server.url, '/api/watch', t.auth);
    const writes = 40;
    await Promise.all(
      Array.from({ length: writes }, (_, i) =>
        i % 2 === 0
          ? api(a, t)
              .put(`k${i % 7}`, i)
              .expect(201)
          : api(a, t)
              .batch([
                { key: `b${i}`, value: i },
                { key: `k${i % 7}`, value: -i },
              ])
              .expect(201),
      ),
    );
    await s.waitForRevision(writes);
    s.close();
    const revisions = [...new Set(s.changes.map((c) => c.version))];
    expect(revisions).toEqual(Array.from({ length: writes }, (_, i) => i + 1));
    expect(s.changes.length).toBe(writes + writes / 2);
    // What the stream said is what the database holds: each key's last change is its stored version.
    const last = new Map(s.changes.map((c) => [c.key, c.version]));
    for (const [key, v] of last) {
      const res = await api(b, t).get(key).expect(200);
      expect(res.body.version).toBe(v);
    }
  });
});

(targets().includes('mysql') ? describe : describe.skip)('the change feed of the real forked service', () => {
  let service: ServiceProcess;
  let url: string;
  let pinned: PinnedConnections;
  beforeAll(async () => {
    service = new ServiceProcess({
      DATABASE_URL: TEST_MYSQL_URL,
      JWT_SECRET_KEY: 'changes-test-jwt-secret-0123456789abcdef',
      ADMIN_API_KEYS: ADMIN_KEY,
      WEB_CONCURRENCY: '2',
      MIGRATE_ON_START: 'false',
      // Longer than any wait below: what reaches the stream from the other worker came because that worker told.
      CHANGE_POLL_MS: '600000',
    });
    url = await service.ready();
    pinned = new PinnedConnections(8);
  });
  afterAll(async () => {
    pinned.close();
    await service.stop();
  });

  const newTenant = async (): Promise<Record<string, string>> => {
    const name = `feed-${Date.now()}-${Math.random().toString(36).slice(2, 6)}`;
    const created = await send(`${url}/api/admin/tenants`, {
      method: 'POST',
      headers: asAdmin,
      body: { user_name: name, password: 'feed-password', provisioned_capacity: 100_000 },
    });
    expect(created.status).toBe(201);
    const login = await send(`${url}/api/auth/login`, {
      method: 'POST',
      body: { user_name: name, password: 'feed-password' },
    });
    return { Authorization: `Bearer ${(login.body as { token: string }).token}` };
  };

  it('gives a stream on one worker the writes made through both, each revision once and in order', async () => {
    const auth = await newTenant();
    const s = await SseStream.open(url, '/api/watch', auth);
    try {
      const rounds = 5;
      for (let round = 0; round < rounds; round++) {
        const answers = await pinned.each(`${url}/api/object`, {
          method: 'POST',
          headers: auth,
          body: { key: `r${round}`, value: round },
        });
        expect(answers.map((a) => a.status)).toEqual(Array(8).fill(201));
      }
      const writes = rounds * 8;
      await s.waitForRevision(writes);
      expect(s.changes.map((c) => c.version)).toEqual(Array.from({ length: writes }, (_, i) => i + 1));
      expect(service.servedBy((u) => u === '/api/object').size).toBe(2);
    } finally {
      s.close();
    }
  });

  it('wakes a stream at once for a write through either worker: the one that wrote tells the other, no poll needed', async () => {
    const auth = await newTenant();
    // Which worker each held connection reaches, from the access log of a read on each.
    const probes = await Promise.all(
      pinned.agents.map((agent, i) => send(`${url}/api/object/probe-${i}`, { headers: auth, agent })),
    );
    expect(probes.map((p) => p.status)).toEqual(Array(8).fill(404));
    const workerOf = await Promise.all(
      pinned.agents.map(async (_, i) => (await service.waitForLine((l) => l.url === `/api/object/probe-${i}`)).pid),
    );
    const first = pinned.agents[0];
    const second = pinned.agents[workerOf.findIndex((pid) => pid !== workerOf[0])];
    // Whichever worker holds the stream, one of these two writes is made through the other one, and nothing
    // written after it would make the stream's worker poll (CHANGE_POLL_MS is ten minutes here).
    const s = await SseStream.open(url, '/api/watch', auth);
    try {
      for (const [n, agent] of [first, second].entries()) {
        const write = await send(`${url}/api/object`, {
          method: 'POST',
          headers: auth,
          body: { key: `k${n}`, value: n },
          agent,
        });
        expect(write.status).toBe(201);
        await s.waitForRevision(n + 1);
      }
      expect(s.changes.map((c) => [c.key, c.version])).toEqual([
        ['k0', 1],
        ['k1', 2],
      ]);
    } finally {
      s.close();
    }
  });
});
