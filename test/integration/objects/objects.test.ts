import {
  api,
  describeTargets,
  type Api,
  expectError,
  expectLedgerExact,
  jsonSize,
  ledger,
  makeTenant,
  request,
  type TestTenant,
} from '../../support/harness';

describeTargets('objects', (h) => {
  let t: TestTenant;
  let kv: Api;
  beforeEach(async () => {
    h.clock.reset();
    t = await makeTenant(h);
    kv = api(h, t);
  });

  it('creates with 201 and an empty body, then reads {key, value, ttl} back as JSON', async () => {
    const created = await kv.put('greeting', { hello: 'world', n: [1, 2, 3] });
    expect(created.status).toBe(201);
    expect(created.text).toBe('');
    const got = await kv.get('greeting').expect(200);
    expect(got.headers['content-type']).toMatch(/^application\/json/);
    expect(got.body).toMatchObject({ key: 'greeting', value: { hello: 'world', n: [1, 2, 3] }, ttl: 0 });
    // The Go service's three fields first, as its clients read them; then what tenantkv adds.
    expect(Object.keys(got.body)).toEqual(['key', 'value', 'ttl', 'expires_in', 'version']);
    expect(got.headers.etag).toBe('"1"');
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['a negative float', -1.5],
    ['a large number', 1e300],
    ['a big integer', 9007199254740991],
    ['an empty string', ''],
    ['a unicode string', 'naïve 😀 日本語 \u200d שלום'],
    ['a string with escapes', 'quote " backslash \\ newline \n tab \t nul \u0000'],
    ['an empty array', []],
    ['an empty object', {}],
    ['a mixed structure', { a: [1, 'two', null, { b: [true, { c: {} }] }], 'key with spaces': 'é', '': 0 }],
    ['an object with a __proto__ member', JSON.parse('{"__proto__":{"polluted":true},"x":1}')],
    ['SQL-looking text', "?? ? :name $1 '; DROP TABLE objects; -- \\' \\0 %_"],
  ])('stores %s as any JSON value, exactly, and charges its compact UTF-8 size', async (_name, value) => {
    await kv.put('v', value).expect(201);
    const got = await kv.get('v').expect(200);
    expect(got.body.value).toEqual(value);
    expect(JSON.stringify(got.body.value)).toBe(JSON.stringify(value));
    const l = await expectLedgerExact(h, t.id);
    expect(l.utilised).toBe(jsonSize(value));
    expect(l.objectCount).toBe(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('stores a number beyond the range of a double (1e400) as sent, not as null', async () => {
    for (const raw of ['1e400', '[1,-1e400]', '{"a":{"b":1e999}}']) {
      await request(h.app)
        .post('/api/object')
        .set(t.auth)
        .set('Content-Type', 'application/json')
        .send(`{"key":"n","value":${raw}}`)
        .expect(201);
      const got = await kv.get('n').expect(200);
      expect(got.text.startsWith(`{"key":"n","value":${raw},"ttl":0,`)).toBe(true);
      expect((await expectLedgerExact(h, t.id)).utilised).toBe(raw.length);
    }
  });

  it('stores integers beyond 2^53 exactly as sent', async () => {
    // JSON numbers are arbitrary precision; a key-value store must give back the digits it was given.
    const text = '{"id":12345678901234567890,"neg":-9007199254740993}';
    await request(h.app)
      .post('/api/object')
      .set(t.auth)
      .set('Content-Type', 'application/json')
      .send(`{"key":"big","value":${text}}`)
      .expect(201);
    const got = await kv.get('big').expect(200);
    expect(got.text.startsWith(`{"key":"big","value":${text},"ttl":0,`)).toBe(true);
    expect((await expectLedgerExact(h, t.id)).utilised).toBe(text.length);
  });

  it('stores the compact form of a value sent with whitespace, and charges that', async () => {
    await request(h.app)
      .post('/api/object')
      .set(t.auth)
      .set('Content-Type', 'application/json')
      .send('{ "key" : "spaced",\n  "value" : { "a" : [ 1 , 2 ] ,  "b" : "x y" } }')
      .expect(201);
    const l = await expectLedgerExact(h, t.id);
    expect(l.utilised).toBe('{"a":[1,2],"b":"x y"}'.length);
    const row = await h.db.knex('objects').first('value', 'size').where({ tenant_id: t.id });
    expect(row.value).toBe('{"a":[1,2],"b":"x y"}');
    expect(Number(row.size)).toBe(21);
  });

  it('overwrites, charging only the difference, and keeps one object', async () => {
    await kv.put('k', 'x'.repeat(100)).expect(201);
    expect((await expectLedgerExact(h, t.id)).utilised).toBe(102);
    await kv.put('k', 'x'.repeat(10)).expect(201);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 12, objectCount: 1 });
    await kv.put('k', { bigger: 'y'.repeat(500) }).expect(201);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: jsonSize({ bigger: 'y'.repeat(500) }) });
    expect((await kv.get('k').expect(200)).body.value).toEqual({ bigger: 'y'.repeat(500) });
    const quota = await request(h.app).get('/api/quota').set(t.auth).expect(200);
    expect(quota.body).toMatchObject({ provisioned: 1024 * 1024, utilised: jsonSize({ bigger: 'y'.repeat(500) }) });
  });

  it('answers 404 "object not found" for an absent key', async () => {
    expectError(await kv.get('nothing-here'), 404, 'OBJECT_NOT_FOUND', 'object not found');
  });

  it('deletes with 204 whether or not the key existed, and refunds the size', async () => {
    await kv.put('a', 'aaaa').expect(201);
    await kv.put('b', 'bb').expect(201);
    const first = await kv.del('a');
    expect(first.status).toBe(204);
    expect(first.text).toBe('');
    await kv.del('a').expect(204);
    await kv.del('never-existed').expect(204);
    expectError(await kv.get('a'), 404, 'OBJECT_NOT_FOUND');
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 4, objectCount: 1 });
    await kv.del('b').expect(204);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
  });

  it('compares keys exactly: case, trailing and leading spaces, accents and normalisation forms differ', async () => {
    const keys = ['a', 'a ', ' a', 'A', '\u00e9', 'e\u0301', 'É', 'ａ', 'a\u200b', 'ß', 'ss'];
    for (const [i, key] of keys.entries()) await kv.put(key, i).expect(201);
    for (const [i, key] of keys.entries()) {
      expect((await kv.get(key).expect(200)).body).toMatchObject({ key, value: i, ttl: 0 });
    }
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: keys.length });
    await kv.del('a ').expect(204);
    expect((await kv.get('a').expect(200)).body.value).toBe(0);
    expectError(await kv.get('a '), 404, 'OBJECT_NOT_FOUND');
    await kv.put('e\u0301', 'decomposed, replaced').expect(201);
    expect((await kv.get('\u00e9').expect(200)).body.value).toBe(4);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: keys.length - 1 });
  });

  it.each([
    'with/slash',
    '/leading',
    'trailing/',
    '//',
    '%',
    '%2F',
    '%25',
    '100% sure',
    'what?',
    '?a=1&b=2',
    '#hash',
    'a#b?c',
    ' ',
    'two  spaces ',
    '+plus+',
    '.',
    '..',
    '../..',
    '...',
    'a\\b',
    '~tilde',
    'quote\'"',
    '<html>&amp;',
    ';,:@=$!*()[]{}|^`',
    "?? ? '; --",
    '\\\\',
    "\\'",
    '%_%',
    '😀',
    '👨‍👩‍👧‍👦',
    '日本語のキー',
    'مفتاح',
    'ключ',
    '\u00a0nbsp',
    '\u2028line-sep',
    '\ufeffbom',
  ])('round-trips the key %j through the path (get, delete)', async (key) => {
    await kv.put(key, { key }).expect(201);
    expect((await kv.get(key).expect(200)).body).toMatchObject({ key, value: { key }, ttl: 0 });
    await kv.del(key).expect(204);
    expectError(await kv.get(key), 404, 'OBJECT_NOT_FOUND');
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
  });

  it('accepts a key of 32 emoji (128 bytes of UTF-8) on every route', async () => {
    const key = '😀'.repeat(32);
    expect(Buffer.byteLength(key)).toBe(128);
    await kv.put(key, 1).expect(201);
    expect((await kv.get(key).expect(200)).body).toMatchObject({ key, value: 1, ttl: 0 });
    await kv.del(key).expect(204);
    expectError(await kv.get(key), 404, 'OBJECT_NOT_FOUND');
  });

  it('accepts a key of 32 code points mixing 1- to 4-byte characters', async () => {
    const key = 'aé€😀'.repeat(8);
    expect([...key]).toHaveLength(32);
    await kv.put(key, 'mixed').expect(201);
    expect((await kv.get(key).expect(200)).body.value).toBe('mixed');
  });

  it('returns the ttl it was given', async () => {
    const future = h.clock.nowSeconds() + 3600;
    await kv.put('with-ttl', 1, future).expect(201);
    expect((await kv.get('with-ttl').expect(200)).body).toMatchObject({ key: 'with-ttl', value: 1, ttl: future });
    await kv.put('zero-ttl', 1, 0).expect(201);
    expect((await kv.get('zero-ttl').expect(200)).body.ttl).toBe(0);
    await kv.put('far', 1, 9999999999999).expect(201);
    expect((await kv.get('far').expect(200)).body.ttl).toBe(9999999999999);
  });

  it('replaces the ttl on overwrite (a ttl-less overwrite never expires)', async () => {
    await kv.put('k', 1, h.clock.nowSeconds() + 10).expect(201);
    await kv.put('k', 2).expect(201);
    h.clock.offsetSeconds = 100;
    expect((await kv.get('k').expect(200)).body).toMatchObject({ key: 'k', value: 2, ttl: 0 });
  });

  it('reports provisioned and utilised bytes on /api/quota', async () => {
    const fresh = await request(h.app).get('/api/quota').set(t.auth).expect(200);
    expect(fresh.body).toMatchObject({ provisioned: 1024 * 1024, utilised: 0 });
    await kv.put('q', 'abc').expect(201);
    const after = await request(h.app).get('/api/quota').set(t.auth).expect(200);
    expect(after.body).toMatchObject({ provisioned: 1024 * 1024, utilised: 5 });
    expect(after.body.utilised).toBe((await ledger(h, t.id)).storedBytes);
  });
});
