import { describeTargets, makeTenant, ledger, request } from '../../support/harness';

describeTargets('smoke', (h) => {
  it('puts, gets, overwrites, deletes with an exact ledger', async () => {
    const t = await makeTenant(h);
    await request(h.app)
      .post('/api/object')
      .set(t.auth)
      .send({ key: 'a', value: { x: 1 } })
      .expect(201);
    const got = await request(h.app).get('/api/object/a').set(t.auth).expect(200);
    expect(got.body).toMatchObject({ key: 'a', value: { x: 1 }, ttl: 0 });
    await request(h.app).post('/api/object').set(t.auth).send({ key: 'a', value: 'longer value' }).expect(201);
    expect(await ledger(h, t.id)).toMatchObject({ utilised: 14, storedBytes: 14, objectCount: 1 });
    await request(h.app).delete('/api/object/a').set(t.auth).expect(204);
    expect(await ledger(h, t.id)).toMatchObject({ utilised: 0, storedBytes: 0, objectCount: 0 });
  });
});
