import {
  api,
  describeTargets,
  expectError,
  expectLedgerExact,
  jsonSize,
  ledger,
  listen,
  makeTenant,
  request,
  storedKeys,
  valueOfSize,
  writeExpiredInDb,
  type Harness,
  type TestTenant,
} from '../../support/harness';

/** POST /api/batch/get and POST /api/batch/delete: many keys at once, at their exact limits. */

interface Item {
  key: string;
  value: unknown;
  ttl: number;
  expires_in: number;
  version: number;
  metadata?: Record<string, unknown>;
}

type Target = Harness['app'] | string;

const getMany = (target: Target, t: TestTenant, body: unknown) =>
  request(target)
    .post('/api/batch/get')
    .set(t.auth)
    .send(body as object);
const deleteMany = (target: Target, t: TestTenant, body: unknown) =>
  request(target)
    .post('/api/batch/delete')
    .set(t.auth)
    .send(body as object);

const keysFrom = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

describeTargets('many keys at once', (h) => {
  async function writeKeys(t: TestTenant, keys: string[], ttl?: number): Promise<void> {
    await api(h, t)
      .batch(keys.map((key) => (ttl === undefined ? { key, value: { k: key } } : { key, value: { k: key }, ttl })))
      .expect(201);
  }

  describe('POST /api/batch/get', () => {
    it('gives the objects in the order asked and the keys that have none, in the order asked', async () => {
      const t = await makeTenant(h);
      const now = h.clock.freeze();
      await request(h.app)
        .post('/api/object')
        .set(t.auth)
        .send({ key: 'm', value: [1, 'é'], metadata: { owner: 'ada' }, expires_in: 300 })
        .expect(201);
      await api(h, t).put('z', 'last').expect(201);
      await api(h, t).put('a', null).expect(201);
      const res = await getMany(h.app, t, { keys: ['z', 'nope', 'm', 'A', 'a', 'a '] }).expect(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        items: [
          { key: 'z', value: 'last', ttl: 0, expires_in: 0, version: 2 },
          { key: 'm', value: [1, 'é'], ttl: now + 300, expires_in: 300, version: 1, metadata: { owner: 'ada' } },
          { key: 'a', value: null, ttl: 0, expires_in: 0, version: 3 },
        ],
        missing: ['nope', 'A', 'a '],
      });
      expect(Object.keys(res.body)).toEqual(['items', 'missing']);
      expect(Object.keys(res.body.items[0])).toEqual(['key', 'value', 'ttl', 'expires_in', 'version']);
      // The same as each key's own GET.
      for (const item of res.body.items as Item[]) {
        expect((await api(h, t).get(item.key).expect(200)).body).toEqual(item);
      }
      expect((await getMany(h.app, t, { keys: ['nope'] }).expect(200)).body).toEqual({
        items: [],
        missing: ['nope'],
      });
    });

    it('gives expired keys as missing, whether they expired in the database or by the clock', async () => {
      const t = await makeTenant(h);
      await writeExpiredInDb(h, (ttl) => api(h, t).put('gone', 'old', ttl).expect(201));
      h.clock.freeze();
      await request(h.app).post('/api/object').set(t.auth).send({ key: 'soon', value: 1, expires_in: 5 }).expect(201);
      await api(h, t).put('kept', 2).expect(201);
      expect((await getMany(h.app, t, { keys: ['gone', 'soon', 'kept'] }).expect(200)).body).toMatchObject({
        items: [{ key: 'soon', expires_in: 5 }, { key: 'kept' }],
        missing: ['gone'],
      });
      h.clock.offsetSeconds = 5;
      expect((await getMany(h.app, t, { keys: ['gone', 'soon', 'kept'] }).expect(200)).body).toMatchObject({
        items: [{ key: 'kept', value: 2 }],
        missing: ['gone', 'soon'],
      });
      // Expired, still stored: the rows are there until purged or reclaimed.
      expect(await storedKeys(h, t.id)).toEqual(['gone', 'kept', 'soon']);
    });

    it('takes 1000 keys, and refuses 1001 with VALIDATION_FAILED and 0 with 400', async () => {
      const t = await makeTenant(h, 4 * 1024 * 1024);
      const keys = keysFrom('k', 1001);
      await writeKeys(
        t,
        keys.filter((_, i) => i % 2 === 0),
      );
      const asked = [...keys.slice(0, 1000)].reverse();
      const res = await getMany(h.app, t, { keys: asked }).expect(200);
      const items = res.body.items as Item[];
      expect(items.map((i) => i.key)).toEqual(asked.filter((k) => Number(k.slice(1)) % 2 === 0));
      expect(items).toHaveLength(500);
      expect(items.every((i) => (i.value as { k: string }).k === i.key)).toBe(true);
      expect(res.body.missing).toEqual(asked.filter((k) => Number(k.slice(1)) % 2 === 1));
      expectError(await getMany(h.app, t, { keys }), 400, 'VALIDATION_FAILED', 'keys');
      expectError(await getMany(h.app, t, { keys: [] }), 400, 'VALIDATION_FAILED', 'keys');
    });

    it('refuses a key asked twice with BATCH_DUPLICATE_KEY, and malformed bodies', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('a', 1).expect(201);
      expectError(await getMany(h.app, t, { keys: ['a', 'b', 'a'] }), 400, 'BATCH_DUPLICATE_KEY', '"a"');
      expectError(await getMany(h.app, t, {}), 400, 'VALIDATION_FAILED', 'keys');
      expectError(await getMany(h.app, t, { keys: 'a' }), 400, 'VALIDATION_FAILED');
      expectError(await getMany(h.app, t, { keys: [1] }), 400, 'VALIDATION_FAILED');
      expectError(await getMany(h.app, t, { keys: [''] }), 400, 'VALIDATION_FAILED');
      expectError(await getMany(h.app, t, { keys: ['x'.repeat(33)] }), 400, 'VALIDATION_FAILED');
      expectError(await getMany(h.app, t, { keys: ['a\u0001'] }), 400, 'VALIDATION_FAILED');
      expectError(await getMany(h.app, t, { keys: ['\ud800'] }), 400, 'INVALID_KEY');
      expectError(await getMany(h.app, t, { keys: ['a'], extra: true }), 400, 'VALIDATION_FAILED');
      expectError(await getMany(h.app, t, ['a']), 400, 'VALIDATION_FAILED');
      // A key of exactly the longest length is fine.
      expect((await getMany(h.app, t, { keys: ['x'.repeat(32), 'a'] }).expect(200)).body).toMatchObject({
        items: [{ key: 'a' }],
        missing: ['x'.repeat(32)],
      });
    });

    it("never gives another tenant's objects, and needs the read scope", async () => {
      const a = await makeTenant(h);
      const b = await makeTenant(h);
      await api(h, a).put('shared', 'A').expect(201);
      await api(h, b).put('shared', 'B').expect(201);
      await api(h, b).put('b-only', 'B').expect(201);
      expect((await getMany(h.app, a, { keys: ['shared', 'b-only'] }).expect(200)).body).toEqual({
        items: [{ key: 'shared', value: 'A', ttl: 0, expires_in: 0, version: 1 }],
        missing: ['b-only'],
      });
      const now = h.clock.nowSeconds();
      const readOnly = h.tokens.issue({ tenantId: a.id, scopes: ['read'], tokenVersion: 0 }, now).token;
      const writeOnly = h.tokens.issue({ tenantId: a.id, scopes: ['write'], tokenVersion: 0 }, now).token;
      const auth = (token: string) => ({ Authorization: `Bearer ${token}` });
      await request(h.app)
        .post('/api/batch/get')
        .set(auth(readOnly))
        .send({ keys: ['shared'] })
        .expect(200);
      expectError(
        await request(h.app)
          .post('/api/batch/get')
          .set(auth(writeOnly))
          .send({ keys: ['shared'] }),
        403,
        'INSUFFICIENT_SCOPE',
      );
    });
  });

  describe('POST /api/batch/delete', () => {
    it('deletes the live objects named in one revision, refunding them exactly; missing keys are no error', async () => {
      const t = await makeTenant(h, 10_000);
      const kv = api(h, t);
      await kv.put('a', valueOfSize(100)).expect(201);
      await kv.put('b', valueOfSize(200)).expect(201);
      await request(h.app)
        .post('/api/object')
        .set(t.auth)
        .send({ key: 'c', value: valueOfSize(300), metadata: { m: 'x'.repeat(50) } })
        .expect(201);
      await kv.put('keep', valueOfSize(400)).expect(201);
      const before = await expectLedgerExact(h, t.id);
      expect(before).toMatchObject({ utilised: 1000 + jsonSize({ m: 'x'.repeat(50) }), objectCount: 4 });
      const res = await deleteMany(h.app, t, { keys: ['c', 'missing', 'a', 'b'] }).expect(200);
      expect(res.body).toEqual({ deleted: 3 });
      expect(await storedKeys(h, t.id)).toEqual(['keep']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({
        utilised: 400,
        objectCount: 1,
        revision: before.revision + 1,
      });
      expect((await kv.quota().expect(200)).body).toEqual({
        provisioned: 10_000,
        utilised: 400,
        objects: 1,
        revision: before.revision + 1,
        history_bytes: 0,
      });
      // The next write takes the next revision.
      expect((await kv.put('a', 1).expect(201)).headers.etag).toBe(`"${before.revision + 2}"`);
    });

    it('changes nothing, not even the revision, when no key named is there', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('a', 1).expect(201);
      const before = await ledger(h, t.id);
      expect((await deleteMany(h.app, t, { keys: ['x', 'y'] }).expect(200)).body).toEqual({ deleted: 0 });
      expect(await ledger(h, t.id)).toEqual(before);
    });

    it('removes and refunds expired objects named, counting only the live ones as deleted', async () => {
      const t = await makeTenant(h);
      await writeExpiredInDb(h, (ttl) => api(h, t).put('old', valueOfSize(500), ttl).expect(201));
      await api(h, t).put('live', valueOfSize(50)).expect(201);
      const before = await ledger(h, t.id);
      expect(before).toMatchObject({ utilised: 550, objectCount: 2 });
      expect((await deleteMany(h.app, t, { keys: ['old'] }).expect(200)).body).toEqual({ deleted: 0 });
      expect(await expectLedgerExact(h, t.id)).toMatchObject({
        utilised: 50,
        objectCount: 1,
        revision: before.revision + 1,
      });
      expect((await deleteMany(h.app, t, { keys: ['live', 'old'] }).expect(200)).body).toEqual({ deleted: 1 });
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
    });

    it('takes more keys than batch get does, up to MAX_BATCH_ITEMS, in one revision; the schema refuses 0', async () => {
      const t = await makeTenant(h, 4 * 1024 * 1024);
      const keys = keysFrom('d', 1501);
      await writeKeys(t, keys);
      const before = await expectLedgerExact(h, t.id);
      expectError(await deleteMany(h.app, t, { keys: [] }), 400, 'VALIDATION_FAILED', 'keys');
      expect(await ledger(h, t.id)).toEqual(before);
      expect((await deleteMany(h.app, t, { keys: keys.slice(1) }).expect(200)).body).toEqual({ deleted: 1500 });
      expect(await storedKeys(h, t.id)).toEqual(['d0000']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({
        utilised: jsonSize({ k: 'd0000' }),
        objectCount: 1,
        revision: before.revision + 1,
      });
    });

    it('refuses a key named twice, and a bad key, deleting nothing', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('a', 1).expect(201);
      await api(h, t).put('b', 1).expect(201);
      const before = await ledger(h, t.id);
      expectError(await deleteMany(h.app, t, { keys: ['a', 'b', 'b'] }), 400, 'BATCH_DUPLICATE_KEY', '"b"');
      expectError(await deleteMany(h.app, t, { keys: ['a', '\udfff'] }), 400, 'INVALID_KEY');
      expectError(await deleteMany(h.app, t, { keys: ['a', ''] }), 400, 'VALIDATION_FAILED');
      expect(await ledger(h, t.id)).toEqual(before);
      expect(await storedKeys(h, t.id)).toEqual(['a', 'b']);
    });

    it("never deletes another tenant's objects, and needs the write scope", async () => {
      const a = await makeTenant(h);
      const b = await makeTenant(h);
      await api(h, b).put('shared', 'B').expect(201);
      await api(h, b).put('b-only', 'B').expect(201);
      await api(h, a).put('shared', 'A').expect(201);
      const bBefore = await ledger(h, b.id);
      expect((await deleteMany(h.app, a, { keys: ['shared', 'b-only'] }).expect(200)).body).toEqual({ deleted: 1 });
      expect(await ledger(h, b.id)).toEqual(bBefore);
      expect(await storedKeys(h, b.id)).toEqual(['b-only', 'shared']);
      expect(await expectLedgerExact(h, a.id)).toMatchObject({ utilised: 0, objectCount: 0 });
      const readOnly = h.tokens.issue({ tenantId: b.id, scopes: ['read'], tokenVersion: 0 }, h.clock.nowSeconds());
      expectError(
        await request(h.app)
          .post('/api/batch/delete')
          .set('Authorization', `Bearer ${readOnly.token}`)
          .send({ keys: ['shared'] }),
        403,
        'INSUFFICIENT_SCOPE',
      );
      expect(await storedKeys(h, b.id)).toEqual(['b-only', 'shared']);
    });

    it('is atomic: a concurrent batch read sees all of the keys or none of them', async () => {
      const server = await listen(h);
      try {
        const t = await makeTenant(h, 4 * 1024 * 1024);
        const rounds = 8;
        let sawAll = 0;
        let sawNone = 0;
        for (let round = 0; round < rounds; round++) {
          const keys = keysFrom(`r${round}/`, 200);
          await writeKeys(t, keys);
          const reads = Array.from({ length: 6 }, () => getMany(server.url, t, { keys }).expect(200));
          const [deleted, ...seen] = await Promise.all([deleteMany(server.url, t, { keys }).expect(200), ...reads]);
          expect(deleted.body).toEqual({ deleted: 200 });
          for (const res of seen) {
            const found = (res.body.items as Item[]).length;
            expect([0, 200]).toContain(found);
            if (found === 200) sawAll++;
            else sawNone++;
          }
        }
        expect(sawAll + sawNone).toBe(rounds * 6);
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
        // One revision per batch put and one per batch delete.
        expect((await ledger(h, t.id)).revision).toBe(rounds * 2);
      } finally {
        await server.close();
      }
    });
  });
});

describeTargets(
  'batch delete at MAX_BATCH_ITEMS',
  (h) => {
    it('takes exactly MAX_BATCH_ITEMS keys and refuses one more with BATCH_TOO_MANY_ITEMS, deleting nothing', async () => {
      expect(h.config.maxBatchItems).toBe(5);
      const t = await makeTenant(h);
      const keys = keysFrom('b', 6);
      for (const key of keys) await api(h, t).put(key, key).expect(201);
      const before = await expectLedgerExact(h, t.id);
      expectError(
        await deleteMany(h.app, t, { keys }),
        400,
        'BATCH_TOO_MANY_ITEMS',
        'keys has 6 items, over the limit of 5',
      );
      expect(await ledger(h, t.id)).toEqual(before);
      expect(await storedKeys(h, t.id)).toEqual(keys);
      expect((await deleteMany(h.app, t, { keys: keys.slice(0, 5) }).expect(200)).body).toEqual({ deleted: 5 });
      expect(await storedKeys(h, t.id)).toEqual(['b0005']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({
        objectCount: 1,
        utilised: jsonSize('b0005'),
        revision: before.revision + 1,
      });
      // Batch get is bounded by the schema (1000), not by MAX_BATCH_ITEMS.
      expect((await getMany(h.app, t, { keys }).expect(200)).body.items).toHaveLength(1);
    });
  },
  { env: { MAX_BATCH_ITEMS: '5' } },
);
