import {
  api,
  describeTargets,
  expectError,
  expectLedgerExact,
  makeTenant,
  objectPath,
  request,
  valueOfSize,
  type TestTenant,
} from '../../support/harness';

function nestedArraysJson(depth: number): string {
  return '['.repeat(depth) + '1' + ']'.repeat(depth);
}

function nestedObjectsJson(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** A string value of exactly `bytes` bytes of compact JSON, made of `ch` and ASCII padding. */
function multibyteValueOfSize(bytes: number, ch: string): string {
  const width = Buffer.byteLength(ch);
  const count = Math.floor((bytes - 2) / width);
  const value = ch.repeat(count) + 'p'.repeat(bytes - 2 - count * width);
  expect(Buffer.byteLength(JSON.stringify(value))).toBe(bytes);
  return value;
}

describeTargets('limits', (h) => {
  let t: TestTenant;
  beforeEach(async () => {
    h.clock.reset();
    t = await makeTenant(h);
  });

  const putRaw = (json: string) =>
    request(h.app).post('/api/object').set(t.auth).set('Content-Type', 'application/json').send(json);

  describe('keys', () => {
    it('accepts 1 to 32 characters and refuses 0 or 33, on the body and on the path', async () => {
      await api(h, t).putBody({ key: 'k', value: 1 }).expect(201);
      await api(h, t)
        .putBody({ key: 'k'.repeat(32), value: 1 })
        .expect(201);
      await request(h.app)
        .get(objectPath('k'.repeat(32)))
        .set(t.auth)
        .expect(200);
      expectError(await api(h, t).putBody({ key: '', value: 1 }), 400, 'VALIDATION_FAILED', 'key');
      expectError(await api(h, t).putBody({ key: 'k'.repeat(33), value: 1 }), 400, 'VALIDATION_FAILED', 'key');
      expectError(
        await request(h.app)
          .get(objectPath('k'.repeat(33)))
          .set(t.auth),
        400,
      );
      expectError(
        await request(h.app)
          .delete(objectPath('k'.repeat(33)))
          .set(t.auth),
        400,
      );
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 2 });
    });

    it('counts code points, not bytes or UTF-16 units: 32 emoji pass, 33 do not', async () => {
      await api(h, t)
        .putBody({ key: '😀'.repeat(32), value: 1 })
        .expect(201);
      expectError(await api(h, t).putBody({ key: '😀'.repeat(33), value: 1 }), 400, 'VALIDATION_FAILED');
      expectError(
        await request(h.app)
          .get(objectPath('😀'.repeat(33)))
          .set(t.auth),
        400,
      );
      await api(h, t)
        .putBody({ key: '€'.repeat(32), value: 1 })
        .expect(201);
      expectError(await api(h, t).putBody({ key: '€'.repeat(33), value: 1 }), 400);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 2 });
    });

    it.each(['\u0000', 'a\nb', 'tab\there', '\r', '\u001f', '\u007f', '\u0080', '\u009f', 'end\u0000'])(
      'refuses the control character in %j on the body and on the path',
      async (key) => {
        expectError(await api(h, t).putBody({ key, value: 1 }), 400, 'VALIDATION_FAILED');
        expectError(await request(h.app).get(objectPath(key)).set(t.auth), 400);
        expectError(await request(h.app).delete(objectPath(key)).set(t.auth), 400);
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0 });
      },
    );

    it('refuses a lone surrogate (no UTF-8 form) with a 400, not a 500', async () => {
      expectError(await putRaw('{"key":"a\\ud800","value":1}'), 400);
      expectError(await putRaw('{"key":"\\udfff","value":1}'), 400);
      expectError(await request(h.app).get('/api/object/%ED%A0%80').set(t.auth), 400);
      expectError(await request(h.app).get('/api/object/%FF').set(t.auth), 400);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0 });
    });

    it.each([42, null, true, ['a'], { k: 'a' }])('refuses a key of the wrong type: %j', async (key) => {
      expectError(await api(h, t).putBody({ key, value: 1 }), 400, 'VALIDATION_FAILED');
    });
  });

  describe('value size', () => {
    it('accepts 16384 bytes and refuses 16385, charging the exact size', async () => {
      await api(h, t)
        .putBody({ key: 'max', value: valueOfSize(16384) })
        .expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 16384 });
      const res = await api(h, t).putBody({ key: 'over', value: valueOfSize(16385) });
      expectError(res, 400, 'VALUE_TOO_LARGE');
      expectError(await request(h.app).get(objectPath('over')).set(t.auth), 404);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 16384, objectCount: 1 });
    });

    it.each([
      ['2-byte', 'é'],
      ['3-byte', '€'],
      ['4-byte', '😀'],
    ])('measures %s characters in UTF-8 bytes at the boundary', async (_name, ch) => {
      const exact = multibyteValueOfSize(16384, ch);
      await api(h, t).putBody({ key: 'exact', value: exact }).expect(201);
      expect((await request(h.app).get(objectPath('exact')).set(t.auth).expect(200)).body.value).toBe(exact);
      expectError(await api(h, t).putBody({ key: 'over', value: exact + 'p' }), 400, 'VALUE_TOO_LARGE');
      // Fewer than 16384 characters, but more than 16384 bytes.
      const chars = ch.repeat(Math.ceil(16384 / Buffer.byteLength(ch)));
      expect([...chars].length).toBeLessThan(16384);
      expectError(await api(h, t).putBody({ key: 'chars', value: chars }), 400, 'VALUE_TOO_LARGE');
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 16384, objectCount: 1 });
    });

    it('measures a structured value as its compact JSON, whatever whitespace the request had', async () => {
      // {"a":"…"} is 8 bytes of syntax around the string's characters.
      const inner = 'x'.repeat(16384 - 8);
      await putRaw(`{"key":"s","value":   {  "a"  :  "${inner}"  }  }`).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 16384 });
      expectError(await putRaw(`{"key":"s2","value":{"a":"${inner}x"}}`), 400, 'VALUE_TOO_LARGE');
    });

    it('counts JSON escapes as the bytes they are stored as', async () => {
      // Each newline is stored as the two characters \n: 8191 of them plus the quotes is 16384 bytes.
      await api(h, t)
        .putBody({ key: 'nl', value: '\n'.repeat(8191) })
        .expect(201);
      expectError(await api(h, t).putBody({ key: 'nl2', value: '\n'.repeat(8192) }), 400, 'VALUE_TOO_LARGE');
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 16384 });
    });

    it('refuses an overwrite that would be too large and keeps the old value', async () => {
      await api(h, t).putBody({ key: 'k', value: 'small' }).expect(201);
      expectError(await api(h, t).putBody({ key: 'k', value: valueOfSize(16385) }), 400, 'VALUE_TOO_LARGE');
      expect((await request(h.app).get(objectPath('k')).set(t.auth).expect(200)).body.value).toBe('small');
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 7 });
    });
  });

  describe('value nesting', () => {
    it('accepts 100 nested arrays and objects, and returns them intact', async () => {
      await putRaw(`{"key":"arrays","value":${nestedArraysJson(100)}}`).expect(201);
      await putRaw(`{"key":"objects","value":${nestedObjectsJson(100)}}`).expect(201);
      const arrays = await request(h.app).get(objectPath('arrays')).set(t.auth).expect(200);
      expect(JSON.stringify(arrays.body.value)).toBe(nestedArraysJson(100));
      const objects = await request(h.app).get(objectPath('objects')).set(t.auth).expect(200);
      expect(JSON.stringify(objects.body.value)).toBe(nestedObjectsJson(100));
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 2 });
    });

    it('refuses 101 levels with a 400', async () => {
      expectError(await putRaw(`{"key":"a","value":${nestedArraysJson(101)}}`), 400, 'VALUE_TOO_DEEP');
      expectError(await putRaw(`{"key":"o","value":${nestedObjectsJson(101)}}`), 400, 'VALUE_TOO_DEEP');
      expectError(await putRaw(`{"key":"m","value":{"x":[1,2,${nestedArraysJson(100)}]}}`), 400, 'VALUE_TOO_DEEP');
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0 });
    });

    it('refuses 100000 levels with a 400, and keeps serving', async () => {
      expectError(await putRaw(`{"key":"deep","value":${nestedArraysJson(100000)}}`), 400, 'VALUE_TOO_DEEP');
      expectError(await putRaw(`{"key":"deep","value":${nestedObjectsJson(100000)}}`), 400, 'VALUE_TOO_DEEP');
      const batch = `[{"key":"deep","value":${nestedArraysJson(100000)}}]`;
      expectError(
        await request(h.app).post('/api/batch/object').set(t.auth).set('Content-Type', 'application/json').send(batch),
        400,
        'VALUE_TOO_DEEP',
      );
      await api(h, t).putBody({ key: 'after', value: 1 }).expect(201);
      await request(h.app).get('/healthz').expect(200);
    });
  });

  describe('ttl', () => {
    it('accepts a ttl one second ahead and far in the future', async () => {
      const now = h.clock.freeze();
      await api(h, t)
        .putBody({ key: 'soon', value: 1, ttl: now + 1 })
        .expect(201);
      await api(h, t).putBody({ key: 'far', value: 1, ttl: 9999999999999 }).expect(201);
      await api(h, t).putBody({ key: 'max', value: 1, ttl: Number.MAX_SAFE_INTEGER }).expect(201);
      const max = await request(h.app).get(objectPath('max')).set(t.auth).expect(200);
      expect(max.body.ttl).toBe(Number.MAX_SAFE_INTEGER);
    });

    it.each<[string, (now: number) => unknown]>([
      ['now', (now) => now],
      ['one second ago', (now) => now - 1],
      ['1 (the epoch)', () => 1],
      ['negative', () => -1],
      ['non-integer', (now) => now + 100.5],
      ['a numeric string', (now) => String(now + 100)],
      ['a boolean', () => true],
      ['an object', () => ({})],
      ['beyond 2^53', () => 1e20],
    ])('refuses a ttl that is %s with a 400 and writes nothing', async (_name, ttl) => {
      const res = await api(h, t).putBody({ key: 'k', value: 1, ttl: ttl(h.clock.nowSeconds()) });
      expectError(res, 400);
      expect((res.body as { message: string }).message).toMatch(/ttl/);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0 });
    });

    it("judges 'now' by the app's clock", async () => {
      h.clock.offsetSeconds = 1000;
      const real = Math.floor(Date.now() / 1000);
      expectError(await api(h, t).putBody({ key: 'k', value: 1, ttl: real + 500 }), 400);
      await api(h, t)
        .putBody({ key: 'k', value: 1, ttl: real + 1500 })
        .expect(201);
    });
  });
});
