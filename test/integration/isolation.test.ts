import {
  expectError,
  expectLedgerExact,
  harness,
  jsonSize,
  listen,
  makeTenant,
  objectPath,
  request,
  valueOfSize,
  type Harness,
  type TestTenant,
} from '../support/harness';
import { targets } from '../support/targets';

describe.each(targets())('tenant isolation on %s', (target) => {
  let h: Harness;
  let a: TestTenant;
  let b: TestTenant;
  beforeAll(() => {
    h = harness(target);
  });
  afterAll(() => h.close());
  beforeEach(async () => {
    a = await makeTenant(h, 1000);
    b = await makeTenant(h, 1000);
  });

  const put = (t: TestTenant, key: string, value: unknown) =>
    request(h.app).post('/api/object').set(t.auth).send({ key, value });
  const get = (t: TestTenant, key: string) => request(h.app).get(objectPath(key)).set(t.auth);
  const quota = async (t: TestTenant) => (await request(h.app).get('/api/quota').set(t.auth).expect(200)).body;

  it('keeps the same key name apart in two tenants', async () => {
    await put(a, 'shared', 'from A').expect(201);
    await put(b, 'shared', { from: 'B', longer: true }).expect(201);
    expect((await get(a, 'shared').expect(200)).body.value).toBe('from A');
    expect((await get(b, 'shared').expect(200)).body.value).toEqual({ from: 'B', longer: true });
    await put(a, 'shared', 'A again').expect(201);
    expect((await get(b, 'shared').expect(200)).body.value).toEqual({ from: 'B', longer: true });
    expect(await expectLedgerExact(h, a.id)).toMatchObject({ utilised: 9, objectCount: 1 });
    expect(await expectLedgerExact(h, b.id)).toMatchObject({
      utilised: jsonSize({ from: 'B', longer: true }),
      objectCount: 1,
    });
  });

  it("cannot read another tenant's key", async () => {
    await put(b, 'b-only', 'secret').expect(201);
    const res = await get(a, 'b-only');
    expectError(res, 404, 'OBJECT_NOT_FOUND', 'object not found');
    // Indistinguishable from a key nobody has.
    expect(res.body).toEqual((await get(a, 'nobody-has-this')).body);
  });

  it("cannot delete another tenant's key (204, but nothing happens to B)", async () => {
    await put(b, 'b-only', 'secret').expect(201);
    const before = await expectLedgerExact(h, b.id);
    await request(h.app).delete(objectPath('b-only')).set(a.auth).expect(204);
    expect((await get(b, 'b-only').expect(200)).body.value).toBe('secret');
    expect(await expectLedgerExact(h, b.id)).toEqual(before);
    expect(await expectLedgerExact(h, a.id)).toMatchObject({ utilised: 0, objectCount: 0 });
  });

  it("cannot overwrite another tenant's key: a write with the same name creates A's own object", async () => {
    await put(b, 'k', 'B value').expect(201);
    await request(h.app)
      .post('/api/batch/object')
      .set(a.auth)
      .send([{ key: 'k', value: 'A value' }])
      .expect(201);
    expect((await get(b, 'k').expect(200)).body.value).toBe('B value');
    expect((await get(a, 'k').expect(200)).body.value).toBe('A value');
    expect(await expectLedgerExact(h, a.id)).toMatchObject({ objectCount: 1, utilised: 9 });
    expect(await expectLedgerExact(h, b.id)).toMatchObject({ objectCount: 1, utilised: 9 });
  });

  it("charges each tenant's quota alone: A full does not stop B, B's usage does not count for A", async () => {
    await put(a, 'fill', valueOfSize(1000)).expect(201);
    expect(await quota(a)).toEqual({ provisioned: 1000, utilised: 1000 });
    expect(await quota(b)).toEqual({ provisioned: 1000, utilised: 0 });
    expectError(await put(a, 'one-more', 1), 403, 'QUOTA_EXCEEDED', 'quota exceeded');
    await put(b, 'fill', valueOfSize(1000)).expect(201);
    expectError(await put(b, 'x', 1), 403, 'QUOTA_EXCEEDED');
    await request(h.app).delete(objectPath('fill')).set(b.auth).expect(204);
    expect(await quota(a)).toEqual({ provisioned: 1000, utilised: 1000 });
    expect(await quota(b)).toEqual({ provisioned: 1000, utilised: 0 });
    expectError(await put(a, 'one-more', 1), 403, 'QUOTA_EXCEEDED');
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
      for (const res of results) expect([201, 403]).toContain(res.status);
      for (const [ti, t] of tenants.entries()) {
        await expectLedgerExact(h, t.id);
        for (let k = 0; k < 5; k++) {
          const res = await get(t, `k${k}`);
          if (res.status === 200) expect(res.body.value).toMatch(new RegExp(`^t${ti}-x*$`));
          else expectError(res, 404);
        }
      }
    } finally {
      await server.close();
    }
  });
});
