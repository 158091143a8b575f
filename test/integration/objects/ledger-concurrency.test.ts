import {
  api,
  describeTargets,
  expectError,
  expectLedgerExact,
  jsonSize,
  ledger,
  listen,
  makeTenant,
  objectPath,
  prng,
  request,
  valueOfSize,
} from '../../support/harness';

type Op =
  | { kind: 'put'; key: string; size: number }
  | { kind: 'delete'; key: string }
  | { kind: 'batch'; items: { key: string; size: number }[] }
  | { kind: 'quota' };

describeTargets('ledger under concurrency', (h) => {
  let server: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    server = await listen(h);
  });
  afterAll(async () => {
    await server.close();
  });

  describe('quota', () => {
    it('accepts a write that fills the quota exactly, and refuses one byte more with 403, writing nothing', async () => {
      const t = await makeTenant(h, 1000);
      await api(server.url, t).put('a', valueOfSize(600)).expect(201);
      await api(server.url, t).put('b', valueOfSize(400)).expect(201);
      expectError(await api(server.url, t).put('c', valueOfSize(2)), 403, 'QUOTA_EXCEEDED', 'quota exceeded');
      expectError(await request(server.url).get(objectPath('c')).set(t.auth), 404, 'OBJECT_NOT_FOUND');
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 1000, objectCount: 2 });
    });

    it('refuses an overwrite that grows past the quota and keeps the old value', async () => {
      const t = await makeTenant(h, 1000);
      await api(server.url, t).put('a', valueOfSize(600)).expect(201);
      await api(server.url, t).put('b', valueOfSize(300)).expect(201);
      expectError(await api(server.url, t).put('a', valueOfSize(701)), 403, 'QUOTA_EXCEEDED');
      expect((await request(server.url).get(objectPath('a')).set(t.auth).expect(200)).body.value).toBe(
        valueOfSize(600),
      );
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 900, objectCount: 2 });
      // Growing by exactly what is left is fine: only the difference is charged.
      await api(server.url, t).put('a', valueOfSize(700)).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 1000, objectCount: 2 });
    });

    it('lets a tenant whose quota was lowered below its usage shrink and delete, but not grow', async () => {
      const t = await makeTenant(h, 1000);
      await api(server.url, t).put('a', valueOfSize(500)).expect(201);
      await api(server.url, t).put('b', valueOfSize(500)).expect(201);
      await h.db.knex('tenants').update({ provisioned: 300 }).where('id', t.id);
      expectError(await api(server.url, t).put('c', valueOfSize(2)), 403, 'QUOTA_EXCEEDED');
      expectError(await api(server.url, t).put('a', valueOfSize(501)), 403, 'QUOTA_EXCEEDED');
      await api(server.url, t).put('a', valueOfSize(500)).expect(201); // same size: no change to the ledger
      await api(server.url, t).put('a', valueOfSize(100)).expect(201);
      await request(server.url).delete(objectPath('b')).set(t.auth).expect(204);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 100, objectCount: 1 });
      await api(server.url, t).put('c', valueOfSize(200)).expect(201);
      expectError(await api(server.url, t).put('d', valueOfSize(2)), 403, 'QUOTA_EXCEEDED');
      expect((await request(server.url).get('/api/quota').set(t.auth).expect(200)).body).toMatchObject({
        provisioned: 300,
        utilised: 300,
      });
    });

    it('refuses everything but deletes and shrinking for a tenant with a quota of 0', async () => {
      const t = await makeTenant(h, 0);
      expectError(await api(server.url, t).put('a', null), 403, 'QUOTA_EXCEEDED');
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
      await request(server.url).delete(objectPath('a')).set(t.auth).expect(204);
    });
  });

  it('keeps utilised == SUM(size) and object_count == COUNT(*) for 20 tenants × 50 mixed parallel operations', async () => {
    const random = prng(20261122);
    const capacity = 12_000;
    const tenants = await Promise.all(Array.from({ length: 20 }, () => makeTenant(h, capacity)));
    const keyOf = () => `k${Math.floor(random() * 12)}`;
    const sizeOf = () => 2 + Math.floor(random() * 2500);
    const plans = tenants.map(() =>
      Array.from({ length: 50 }, (): Op => {
        const r = random();
        if (r < 0.45) return { kind: 'put', key: keyOf(), size: sizeOf() };
        if (r < 0.55) return { kind: 'put', key: keyOf(), size: capacity - Math.floor(random() * 100) };
        if (r < 0.75) return { kind: 'delete', key: keyOf() };
        if (r < 0.95) {
          const keys = [...new Set(Array.from({ length: 2 + Math.floor(random() * 4) }, keyOf))];
          return { kind: 'batch', items: keys.map((key) => ({ key, size: sizeOf() })) };
        }
        return { kind: 'quota' };
      }),
    );
    const statuses = new Map<string, number>();
    const calls = tenants.flatMap((t, ti) =>
      plans[ti].map(async (op) => {
        const api = request(server.url);
        let res;
        if (op.kind === 'put') {
          res = await api
            .post('/api/object')
            .set(t.auth)
            .send({ key: op.key, value: valueOfSize(op.size) });
        } else if (op.kind === 'delete') res = await api.delete(objectPath(op.key)).set(t.auth);
        else if (op.kind === 'batch') {
          res = await api
            .post('/api/batch/object')
            .set(t.auth)
            .send(op.items.map((i) => ({ key: i.key, value: valueOfSize(i.size) })));
        } else res = await api.get('/api/quota').set(t.auth);
        const tag = `${op.kind} ${res.status}`;
        statuses.set(tag, (statuses.get(tag) ?? 0) + 1);
        if (res.status === 403) expectError(res, 403, 'QUOTA_EXCEEDED', 'quota exceeded');
        else expect({ op: op.kind, status: res.status }).toEqual({ op: op.kind, status: expectedStatus(op) });
      }),
    );
    await Promise.all(calls);
    // The storm exercised every path, refusals included.
    for (const tag of ['put 201', 'put 403', 'delete 204', 'batch 201', 'batch 403']) {
      expect({ tag, seen: (statuses.get(tag) ?? 0) > 0 }).toEqual({ tag, seen: true });
    }
    for (const t of tenants) {
      const l = await expectLedgerExact(h, t.id);
      expect(l.utilised).toBeLessThanOrEqual(capacity);
      const sizes = await h.db.knex('objects').select('size').where('tenant_id', t.id);
      expect(l.utilised).toBe(sizes.reduce((sum: number, r: { size: unknown }) => sum + Number(r.size), 0));
    }
    // Deleting everything, in parallel, brings every ledger back to zero.
    await Promise.all(
      tenants.flatMap((t) =>
        Array.from({ length: 12 }, (_, i) =>
          request(server.url)
            .delete(objectPath(`k${i}`))
            .set(t.auth)
            .expect(204),
        ),
      ),
    );
    for (const t of tenants) {
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
    }
  });

  it('lets exactly floor(Q/s) of 50 racing writers take the last bytes, and refuses the rest', async () => {
    const quota = 1000;
    const size = 70; // 1000 / 70 = 14.28…: 14 writes fit, 20 bytes are left over
    const t = await makeTenant(h, quota);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => api(server.url, t).put(`racer-${i}`, valueOfSize(size))),
    );
    const created = results.filter((r) => r.status === 201);
    const refused = results.filter((r) => r.status === 403);
    expect(created).toHaveLength(Math.floor(quota / size));
    expect(refused).toHaveLength(50 - Math.floor(quota / size));
    for (const r of refused) expectError(r, 403, 'QUOTA_EXCEEDED', 'quota exceeded');
    const l = await expectLedgerExact(h, t.id);
    expect(l).toMatchObject({ utilised: Math.floor(quota / size) * size, objectCount: Math.floor(quota / size) });
    expect(l.utilised).toBeLessThanOrEqual(quota);
  });

  it('lets exactly floor(Q/batch) of 30 racing batches in, all or nothing each', async () => {
    const quota = 1000;
    const t = await makeTenant(h, quota);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        request(server.url)
          .post('/api/batch/object')
          .set(t.auth)
          .send([0, 1, 2].map((j) => ({ key: `b${i}-${j}`, value: valueOfSize(70) }))),
      ),
    );
    const created = results.filter((r) => r.status === 201).length;
    expect(created).toBe(Math.floor(quota / 210));
    expect(results.filter((r) => r.status === 403)).toHaveLength(30 - created);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: created * 210, objectCount: created * 3 });
    // All or nothing: every batch's keys are there together, or not at all.
    for (let i = 0; i < 30; i++) {
      const present = await h.db
        .knex('objects')
        .where('tenant_id', t.id)
        .andWhere('k', 'like', `b${i}-%`)
        .count({ n: '*' });
      expect([0, 3]).toContain(Number(present[0].n));
    }
  });

  it('reclaims expired objects exactly once when many writers need the space at the same time', async () => {
    const quota = 5000;
    const t = await makeTenant(h, quota);
    const soon = h.clock.nowSeconds() + 5;
    const expiring = Array.from({ length: 40 }, (_, i) => ({ key: `old${i}`, value: valueOfSize(100), ttl: soon }));
    await request(server.url).post('/api/batch/object').set(t.auth).send(expiring).expect(201);
    h.clock.offsetSeconds = 10;
    try {
      // 4000 bytes are held by expired objects. Whatever the order, 12 writes of 400 bytes fit in 5000.
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => api(server.url, t).put(`new${i}`, valueOfSize(400))),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(12);
      for (const r of results.filter((x) => x.status !== 201)) expectError(r, 403, 'QUOTA_EXCEEDED');
      const stored = await h.db
        .knex('objects')
        .where('tenant_id', t.id)
        .andWhere('k', 'like', 'old%')
        .count({ n: '*' });
      expect(Number(stored[0].n)).toBe(0);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 4800, objectCount: 12 });
    } finally {
      h.clock.offsetSeconds = 0;
    }
  });

  it('does not double-charge when many writers create the same new key at once', async () => {
    const t = await makeTenant(h, 1_000_000);
    const values = Array.from({ length: 40 }, (_, i) => valueOfSize(10 + i * 13));
    const results = await Promise.all(values.map((v) => api(server.url, t).put('contended', v)));
    for (const r of results) expect(r.status).toBe(201);
    const l = await expectLedgerExact(h, t.id);
    expect(l.objectCount).toBe(1);
    const stored = (await request(server.url).get(objectPath('contended')).set(t.auth).expect(200)).body.value;
    expect(values).toContain(stored);
    expect(l.utilised).toBe(jsonSize(stored));
  });

  it('does not double-charge when batches create the same new keys at once', async () => {
    const t = await makeTenant(h, 1_000_000);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        request(server.url)
          .post('/api/batch/object')
          .set(t.auth)
          .send(['x', 'y', `own-${i}`].map((key) => ({ key, value: valueOfSize(10 + i) }))),
      ),
    );
    for (const r of results) expect(r.status).toBe(201);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 22 });
  });

  it('stays exact when creates, overwrites and deletes of one key race', async () => {
    const t = await makeTenant(h, 1_000_000);
    const calls = Array.from({ length: 60 }, (_, i) =>
      i % 3 === 2
        ? request(server.url).delete(objectPath('hot')).set(t.auth)
        : api(server.url, t).put('hot', valueOfSize(5 + ((i * 37) % 500))),
    );
    const results = await Promise.all(calls);
    for (const r of results) expect([201, 204]).toContain(r.status);
    const l = await expectLedgerExact(h, t.id);
    expect(l.objectCount).toBeLessThanOrEqual(1);
  });

  it('stays exact when a tenant at its quota races overwrites that shrink and grow', async () => {
    const quota = 5000;
    const t = await makeTenant(h, quota);
    for (let i = 0; i < 5; i++) await api(server.url, t).put(`s${i}`, valueOfSize(1000)).expect(201);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => api(server.url, t).put(`s${i % 5}`, valueOfSize(i % 2 === 0 ? 900 : 1100))),
    );
    results.forEach((r, i) => {
      // A shrinking overwrite is always allowed; a growing one only while there is room.
      if (i % 2 === 0) expect({ i, status: r.status }).toEqual({ i, status: 201 });
      else if (r.status !== 201) expectError(r, 403, 'QUOTA_EXCEEDED');
    });
    const l = await expectLedgerExact(h, t.id);
    expect(l.utilised).toBeLessThanOrEqual(quota);
    expect(l.objectCount).toBe(5);
    const sizes = await h.db.knex('objects').select('size').where('tenant_id', t.id);
    for (const { size } of sizes) expect([900, 1100]).toContain(Number(size));
    expect((await ledger(h, t.id)).provisioned).toBe(quota);
  });
});

function expectedStatus(op: Op): number {
  if (op.kind === 'delete') return 204;
  if (op.kind === 'quota') return 200;
  return 201;
}
