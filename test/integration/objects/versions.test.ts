import {
  api,
  describeTargets,
  encodeKey,
  expectError,
  expectLedgerExact,
  harness,
  jsonSize,
  ledger,
  makeTenant,
  request,
  valueOfSize,
  type Harness,
} from '../../support/harness';

/** Versions, ETags, HEAD, metadata, relative TTL and hierarchical keys: what every object now carries. */
describeTargets('versions and metadata', (h, target) => {
  const revision = async (tenantId: number): Promise<number> => (await ledger(h, tenantId)).revision;

  describe('versions', () => {
    it('gives every change the tenant’s next revision, as the object’s version and the ETag', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      const first = await kv.put('a', 1).expect(201);
      expect(first.headers.etag).toBe('"1"');
      expect(first.text).toBe('');
      expect((await kv.put('b', 2).expect(201)).headers.etag).toBe('"2"');
      const batch = await kv.batch([
        { key: 'a', value: 3 },
        { key: 'c', value: 4 },
      ]);
      expect(batch.status).toBe(201);
      expect(batch.headers.etag).toBe('"3"');
      const a = await kv.get('a').expect(200);
      expect(a.headers.etag).toBe('"3"');
      expect(a.body).toMatchObject({ key: 'a', value: 3, version: 3 });
      expect((await kv.get('b').expect(200)).body.version).toBe(2);
      expect((await kv.get('c').expect(200)).body.version).toBe(3);
      await kv.del('b').expect(204);
      expect(await revision(t.id)).toBe(4);
      expect((await kv.quota().expect(200)).body).toEqual({
        provisioned: 1024 * 1024,
        utilised: 2,
        objects: 2,
        revision: 4,
        history_bytes: 0,
      });
    });

    it('takes no revision for a refused or failed write, or a delete of a key that is not there', async () => {
      const t = await makeTenant(h, 100);
      const kv = api(h, t);
      await kv.put('a', valueOfSize(60)).expect(201);
      expectError(await kv.put('b', valueOfSize(41)), 403, 'QUOTA_EXCEEDED');
      expectError(await kv.batch([{ key: 'x', value: valueOfSize(50) }]), 403, 'QUOTA_EXCEEDED');
      expectError(await kv.put('a', 1).set('If-Match', '"9"'), 412, undefined);
      expectError(await kv.put('a', 'x'.repeat(20000)), 400, 'VALUE_TOO_LARGE');
      await kv.del('nothing').expect(204);
      expect(
        (
          await request(h.app)
            .post('/api/batch/delete')
            .set(t.auth)
            .send({ keys: ['n1', 'n2'] })
            .expect(200)
        ).body,
      ).toEqual({
        deleted: 0,
      });
      expect(await revision(t.id)).toBe(1);
    });

    it('answers HEAD with the ETag and the Content-Length of the GET body, and no body; 404 for a missing key', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      await kv.put('k', { hello: 'world' }, 0).expect(201);
      const got = await kv.get('k').expect(200);
      const head = await request(h.app).head('/api/object/k').set(t.auth).expect(200);
      expect(head.headers.etag).toBe(got.headers.etag);
      expect(head.headers['content-length']).toBe(String(Buffer.byteLength(got.text)));
      expect(head.text ?? '').toBe('');
      const missing = await request(h.app).head('/api/object/missing').set(t.auth);
      expect(missing.status).toBe(404);
      expect(missing.text ?? '').toBe('');
    });

    it('answers 304 to a GET or HEAD whose If-None-Match names the current version, else the object', async () => {
      const t = await makeTenant(h);
      const kv = api(h, t);
      await kv.put('k', 'one').expect(201);
      const notModified = await kv.get('k').set('If-None-Match', '"1"');
      expect(notModified.status).toBe(304);
      expect(notModified.headers.etag).toBe('"1"');
      expect(notModified.text).toBe('');
      expect((await kv.get('k').set('If-None-Match', '"7", "1"')).status).toBe(304);
      expect((await kv.get('k').set('If-None-Match', '*')).status).toBe(304);
      expect((await request(h.app).head('/api/object/k').set(t.auth).set('If-None-Match', '"1"')).status).toBe(304);
      await kv.put('k', 'two').expect(201);
      const changed = await kv.get('k').set('If-None-Match', '"1"').expect(200);
      expect(changed.body).toMatchObject({ value: 'two', version: 2 });
      expectError(await kv.get('missing').set('If-None-Match', '"1"'), 404, 'OBJECT_NOT_FOUND');
      expectError(await kv.get('k').set('If-None-Match', 'W/"2"'), 400, 'INVALID_PRECONDITION', 'If-None-Match');
    });
  });

  describe('metadata', () => {
    it('stores a metadata object beside the value, returns it on reads, and charges its bytes', async () => {
      const t = await makeTenant(h);
      const metadata = { owner: 'ada', tags: ['x', 'y'], n: 1 };
      await request(h.app)
        .post('/api/object')
        .set(t.auth)
        .send({ key: 'm', value: [1, 2], metadata })
        .expect(201);
      const got = await api(h, t).get('m').expect(200);
      expect(got.body).toMatchObject({ key: 'm', value: [1, 2], metadata });
      const l = await expectLedgerExact(h, t.id);
      expect(l.utilised).toBe(jsonSize([1, 2]) + jsonSize(metadata));
      // An overwrite without metadata drops it, and is charged the difference.
      await api(h, t).put('m', [1, 2]).expect(201);
      expect((await api(h, t).get('m').expect(200)).body.metadata).toBeUndefined();
      expect((await expectLedgerExact(h, t.id)).utilised).toBe(jsonSize([1, 2]));
    });

    it('takes metadata of exactly MAX_METADATA_BYTES and refuses one byte more, writing nothing', async () => {
      const t = await makeTenant(h);
      const ofSize = (bytes: number) => ({ m: 'x'.repeat(bytes - '{"m":""}'.length) });
      expect(jsonSize(ofSize(1024))).toBe(1024);
      const put = (metadata: unknown) =>
        request(h.app).post('/api/object').set(t.auth).send({ key: 'k', value: 1, metadata });
      await put(ofSize(1024)).expect(201);
      expectError(
        await put(ofSize(1025)),
        400,
        'METADATA_TOO_LARGE',
        'metadata is 1025 bytes, over the limit of 1024 bytes',
      );
      expect((await api(h, t).get('k').expect(200)).body.metadata).toEqual(ofSize(1024));
      expectError(await put([1]), 400, 'VALIDATION_FAILED', 'metadata');
      expectError(await put('text'), 400, 'VALIDATION_FAILED', 'metadata');
      const batch = await api(h, t).batch([{ key: 'b', value: 1, metadata: ofSize(1025) }]);
      expectError(batch, 400, 'METADATA_TOO_LARGE', 'batch item 0');
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 1, utilised: 1 + 1024 });
    });

    it('counts metadata toward the quota, exactly at the boundary', async () => {
      const t = await makeTenant(h, 100);
      const metadata = { m: 'x'.repeat(40) }; // 48 bytes
      const send = (value: unknown) =>
        request(h.app).post('/api/object').set(t.auth).send({ key: 'k', value, metadata });
      expectError(await send(valueOfSize(53)), 403, 'QUOTA_EXCEEDED');
      await send(valueOfSize(52)).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 100 });
    });
  });

  describe('relative expiry', () => {
    it('takes expires_in as seconds from now, and returns the absolute ttl and the seconds left', async () => {
      const t = await makeTenant(h);
      const now = h.clock.freeze();
      await request(h.app).post('/api/object').set(t.auth).send({ key: 'e', value: 1, expires_in: 60 }).expect(201);
      expect((await api(h, t).get('e').expect(200)).body).toMatchObject({ ttl: now + 60, expires_in: 60 });
      h.clock.offsetSeconds = 59;
      expect((await api(h, t).get('e').expect(200)).body).toMatchObject({ ttl: now + 60, expires_in: 1 });
      h.clock.offsetSeconds = 60;
      expectError(await api(h, t).get('e'), 404, 'OBJECT_NOT_FOUND');
      h.clock.offsetSeconds = 0;
      await api(h, t).put('never', 1).expect(201);
      expect((await api(h, t).get('never').expect(200)).body).toMatchObject({ ttl: 0, expires_in: 0 });
    });

    it('refuses expires_in below 1, and ttl and expires_in together, with 400 INVALID_TTL', async () => {
      const t = await makeTenant(h);
      const send = (body: object) =>
        request(h.app)
          .post('/api/object')
          .set(t.auth)
          .send({ key: 'e', value: 1, ...body });
      await send({ expires_in: 1 }).expect(201);
      expectError(await send({ expires_in: 0 }), 400, 'VALIDATION_FAILED', 'expires_in');
      expectError(await send({ expires_in: 10, ttl: 0 }), 400, 'INVALID_TTL', 'not both');
      expectError(await send({ expires_in: 10, ttl: h.clock.nowSeconds() + 100 }), 400, 'INVALID_TTL');
      const batch = await api(h, t).batch([{ key: 'b', value: 1, expires_in: 5, ttl: 0 } as never]);
      expectError(batch, 400, 'INVALID_TTL', 'batch item 0');
    });
  });

  describe('hierarchical keys', () => {
    it('addresses the same key with unencoded slashes and with %2F, on GET, HEAD and DELETE', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('users/42/profile', { plan: 'pro' }).expect(201);
      for (const path of [
        '/api/object/users/42/profile',
        '/api/object/users%2F42%2Fprofile',
        '/api/object/users/42%2Fprofile',
      ]) {
        expect((await request(h.app).get(path).set(t.auth).expect(200)).body).toMatchObject({
          key: 'users/42/profile',
          value: { plan: 'pro' },
        });
        await request(h.app).head(path).set(t.auth).expect(200);
      }
      expectError(await request(h.app).get('/api/object/users/42').set(t.auth), 404, 'OBJECT_NOT_FOUND');
      await request(h.app).delete('/api/object/users/42/profile').set(t.auth).expect(204);
      expectError(await request(h.app).get('/api/object/users%2F42%2Fprofile').set(t.auth), 404, 'OBJECT_NOT_FOUND');
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0 });
    });
  });

  describe('MAX_KEY_LENGTH', () => {
    let wide: Harness;
    beforeAll(async () => {
      wide = await harness(target, { env: { MAX_KEY_LENGTH: '512' } });
    });
    afterAll(() => wide.close());

    it('takes keys of exactly 512 code points of 4-byte UTF-8 on every route when raised, and refuses 513', async () => {
      const t = await makeTenant(wide);
      const key = '😀'.repeat(511) + '𝄞';
      expect([...key]).toHaveLength(512);
      expect(Buffer.byteLength(key)).toBe(2048);
      const kv = api(wide, t);
      await kv.put(key, 1).expect(201);
      expect((await kv.get(key).expect(200)).body.key).toBe(key);
      expect(
        (
          await request(wide.app)
            .post('/api/batch/get')
            .set(t.auth)
            .send({ keys: [key] })
            .expect(200)
        ).body.items,
      ).toHaveLength(1);
      const listed = await request(wide.app)
        .get(`/api/objects?prefix=${encodeKey('😀'.repeat(300))}`)
        .set(t.auth)
        .expect(200);
      expect(listed.body.items.map((i: { key: string }) => i.key)).toEqual([key]);
      await kv.del(key).expect(204);
      const tooLong = key + 'x';
      expectError(await kv.put(tooLong, 1), 400, 'VALIDATION_FAILED', 'key: must NOT have more than 512 characters');
      expectError(await kv.get(tooLong), 400, 'VALIDATION_FAILED');
      expect(await expectLedgerExact(wide, t.id)).toMatchObject({ objectCount: 0 });
    });

    it('keeps 32 by default, and the document it serves says so', async () => {
      const t = await makeTenant(h);
      expectError(await api(h, t).put('k'.repeat(33), 1), 400, 'VALIDATION_FAILED', 'more than 32 characters');
      await api(h, t).put('k'.repeat(32), 1).expect(201);
      const served = (await request(wide.app).get('/swagger.yaml').buffer(true).expect(200)).text;
      expect(served).toMatch(/maxLength: 512/);
    });
  });
});
