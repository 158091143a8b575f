import {
  api,
  describeTargets,
  expectError,
  expectLedgerExact,
  jsonSize,
  listen,
  makeTenant,
  objectPath,
  request,
  valueOfSize,
  type TestTenant,
} from '../../support/harness';

describeTargets('tenant isolation', (h) => {
  let a: TestTenant;
  let b: TestTenant;
  beforeEach(async () => {
    a = await makeTenant(h, 1000);
    b = await makeTenant(h, 1000);
  });

  const quota = async (t: TestTenant) => (await request(h.app).get('/api/quota').set(t.auth).expect(200)).body;

  it('keeps the same key name apart in two tenants', async () => {
    await api(h, a).put('shared', 'from A').expect(201);
    await api(h, b).put('shared', { from: 'B', longer: true }).expect(201);
    expect((await api(h, a).get('shared').expect(200)).body.value).toBe('from A');
    expect((await api(h, b).get('shared').expect(200)).body.value).toEqual({ from: 'B', longer: true });
    await api(h, a).put('shared', 'A again').expect(201);
    expect((await api(h, b).get('shared').expect(200)).body.value).toEqual({ from: 'B', longer: true });
    expect(await expectLedgerExact(h, a.id)).toMatchObject({ utilised: 9, objectCount: 1 });
    expect(await expectLedgerExact(h, b.id)).toMatchObject({
      utilised: jsonSize({ from: 'B', longer: true }),
      objectCount: 1,
    });
  });

  it("cannot read another tenant's key", async () => {
    await api(h, b).put('b-only', 'secret').expect(201);
    const res = await api(h, a).get('b-only');
    expectError(res, 404, 'OBJECT_NOT_FOUND', 'object not found');
    // Indistinguishable from a key nobody has.
    expect(res.body).toEqual((await api(h, a).get('nobody-has-this')).body);
  });

  it("cannot delete another tenant's key (204, but nothing happens to B)", async () => {
    await api(h, b).put('b-only', 'secret').expect(201);
    const before = await expectLedgerExact(h, b.id);
    await request(h.app).delete(objectPath('b-only')).set(a.auth).expect(204);
    expect((await api(h, b).get('b-only').expect(200)).body.value).toBe('secret');
    expect(await expectLedgerExact(h, b.id)).toEqual(before);
    expect(await expectLedgerExact(h, a.id)).toMatchObject({ utilised: 0, objectCount: 0 });
  });

  it("cannot overwrite another tenant's key: a write with the same name creates A's own object", async () => {
    await api(h, b).put('k', 'B value').expect(201);
    await request(h.app)
      .post('/api/batch/object')
      .set(a.auth)
      .send([{ key: 'k', value: 'A value' }])
      .expect(201);
    expect((await api(h, b).get('k').expect(200)).body.value).toBe('B value');
    expect((await api(h, a).get('k').expect(200)).body.value).toBe('A value');
    expect(await expectLedgerExact(h, a.id)).toMatchObject({ objectCount: 1, utilised: 9 });
    expect(await expectLedgerExact(h, b.id)).toMatchObject({ objectCount: 1, utilised: 9 });
  });

  it("charges each tenant's quota alone: A full does not stop B, B's usage does not count for A", async () => {
    await api(h, a).put('fill', valueOfSize(1000)).expect(201);
    expect(await quota(a)).toMatchObject({ provisioned: 1000, utilised: 1000 });
    expect(await quota(b)).toMatchObject({ provisioned: 1000, utilised: 0 });
    expectError(await api(h, a).put('one-more', 1), 403, 'QUOTA_EXCEEDED', 'quota exceeded');
    await api(h, b).put('fill', valueOfSize(1000)).expect(201);
    expectError(await api(h, b).put('x', 1), 403, 'QUOTA_EXCEEDED');
    await request(h.app).delete(objectPath('fill')).set(b.auth).expect(204);
    expect(await quota(a)).toMatchObject({ provisioned: 1000, utilised: 1000 });
    expect(await quota(b)).toMatchObject({ provisioned: 1000, utilised: 0 });
    expectError(await api(h, a).put('one-more', 1), 403, 'QUOTA_EXCEEDED');
  });

  it('keeps tenants apart under concurrent writes to the same key names', async () => {
    const server = await listen(h);
    try {
      const tenants = [a, b, await makeTenant(h, 100_000), await makeTenant(h, 100_000)];
      const calls = tenants.flatMap((t, ti) =>
        Array.from({ length: 20 }, (_, i) =>
          request(server.url)
            .post('/api/object')
            .set(t.auth)
            .send({ key: `k${i % 5}`, value: `t${ti}-${'x'.repeat(i)}` }),
        ),
      );
      const results = await Promise.all(calls);
      // Every write fits (5 keys of at most 24 bytes each): each must be stored, under its own tenant only.
      for (const res of results) expect(res.status).toBe(201);
      for (const [ti, t] of tenants.entries()) {
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 5 });
        for (let k = 0; k < 5; k++) {
          const written = Array.from({ length: 4 }, (_, n) => `t${ti}-${'x'.repeat(k + 5 * n)}`);
          expect(written).toContain((await api(h, t).get(`k${k}`).expect(200)).body.value);
        }
      }
    } finally {
      await server.close();
    }
  });
});
