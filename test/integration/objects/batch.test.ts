import {
  api,
  describeTargets,
  type Api,
  expectError,
  expectLedgerExact,
  harness,
  jsonSize,
  ledger,
  makeTenant,
  objectPath,
  request,
  valueOfSize,
  type TestTenant,
} from '../../support/harness';

const MIB = 1024 * 1024;

describeTargets('batch', (h, target) => {
  let t: TestTenant;
  let kv: Api;
  beforeEach(async () => {
    h.clock.reset();
    t = await makeTenant(h, 16 * MIB);
    kv = api(h, t);
  });

  async function expectNothingWritten(keys: string[]): Promise<void> {
    for (const key of keys) expectError(await kv.get(key), 404, 'OBJECT_NOT_FOUND');
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
  }

  it('writes every item with 201 and charges their sizes', async () => {
    const items = [
      { key: 'a', value: 1, ttl: 0 },
      { key: 'b', value: { nested: [true, null] } },
      { key: 'c', value: null, ttl: h.clock.nowSeconds() + 3600 },
      { key: 'd/é 😀', value: 'unicode' },
    ];
    const res = await kv.batch(items);
    expect(res.status).toBe(201);
    expect(res.text).toBe('');
    for (const item of items) {
      expect((await kv.get(item.key).expect(200)).body).toMatchObject({
        key: item.key,
        value: item.value,
        ttl: item.ttl ?? 0,
      });
    }
    const l = await expectLedgerExact(h, t.id);
    expect(l).toMatchObject({ objectCount: 4, utilised: items.reduce((sum, i) => sum + jsonSize(i.value), 0) });
  });

  it('round-trips every ttl and value exactly, however the rows are sent to the database', async () => {
    const items = [
      { key: 'max-ttl', value: 9007199254740991, ttl: Number.MAX_SAFE_INTEGER },
      { key: 'far-ttl', value: -0.5, ttl: 9999999999999 },
      { key: 'quotes', value: `it's "quoted" \\ and ; -- not SQL`, ttl: 0 },
      { key: 'binary-ish', value: '\u0000\u0001\u001f\u2028', ttl: 0 },
      { key: 'astral', value: { '😀': ['𝄞', 'é'] }, ttl: 0 },
    ];
    await kv.batch(items).expect(201);
    for (const item of items) {
      expect((await kv.get(item.key).expect(200)).body).toMatchObject({
        key: item.key,
        value: item.value,
        ttl: item.ttl,
      });
    }
    await expectLedgerExact(h, t.id);
  });

  it('accepts a batch of one item', async () => {
    await kv.batch([{ key: 'only', value: 'one' }]).expect(201);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 1, utilised: 5 });
  });

  it('overwrites existing keys, charging only the differences', async () => {
    await kv
      .batch([
        { key: 'a', value: 'x'.repeat(100) },
        { key: 'b', value: 'x'.repeat(10) },
      ])
      .expect(201);
    await kv
      .batch([
        { key: 'a', value: 'x'.repeat(5) },
        { key: 'b', value: 'x'.repeat(50) },
        { key: 'c', value: 'new' },
      ])
      .expect(201);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 3, utilised: 7 + 52 + 5 });
    expect((await kv.get('a').expect(200)).body.value).toBe('xxxxx');
  });

  it('keeps keys that differ only in case, spaces or normalisation apart', async () => {
    const keys = ['k', 'K', 'k ', '\u00e9', 'e\u0301'];
    await kv.batch(keys.map((key, i) => ({ key, value: i }))).expect(201);
    for (const [i, key] of keys.entries()) expect((await kv.get(key).expect(200)).body.value).toBe(i);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 5 });
  });

  it('refuses an empty array with a 400', async () => {
    expectError(await kv.batch([]), 400);
    await expectNothingWritten([]);
  });

  it('refuses a duplicate key with a 400 and writes nothing', async () => {
    const res = await kv.batch([
      { key: 'a', value: 1 },
      { key: 'b', value: 2 },
      { key: 'a', value: 3 },
    ]);
    expectError(res, 400, 'BATCH_DUPLICATE_KEY');
    await expectNothingWritten(['a', 'b']);
  });

  it.each<[string, unknown[]]>([
    [
      'a key too long',
      [
        { key: 'ok', value: 1 },
        { key: 'k'.repeat(33), value: 1 },
      ],
    ],
    ['a missing value', [{ key: 'ok', value: 1 }, { key: 'b' }]],
    ['a missing key', [{ key: 'ok', value: 1 }, { value: 1 }]],
    [
      'a ttl in the past',
      [
        { key: 'ok', value: 1 },
        { key: 'b', value: 1, ttl: 1000 },
      ],
    ],
    [
      'a negative ttl',
      [
        { key: 'ok', value: 1 },
        { key: 'b', value: 1, ttl: -5 },
      ],
    ],
    ['an item that is a number', [{ key: 'ok', value: 1 }, 7]],
    ['an item that is null', [{ key: 'ok', value: 1 }, null]],
    ['an item that is an array', [{ key: 'ok', value: 1 }, [{ key: 'b', value: 1 }]]],
    [
      'a control character in a key',
      [
        { key: 'ok', value: 1 },
        { key: 'a\u0001', value: 1 },
      ],
    ],
  ])('refuses a batch with %s with a 400 and writes nothing', async (_name, items) => {
    expectError(await kv.batch(items), 400);
    await expectNothingWritten(['ok', 'b']);
  });

  it('names the failing item in the message', async () => {
    const res = await kv.batch([
      { key: 'ok', value: 1 },
      { key: 'deep', value: JSON.parse('['.repeat(101) + ']'.repeat(101)) },
    ]);
    expectError(res, 400, 'VALUE_TOO_DEEP', 'batch item 1');
    await expectNothingWritten(['ok', 'deep']);
  });

  it('accepts values over the single-object limit of 16384 bytes inside a batch', async () => {
    await kv.batch([{ key: 'big', value: valueOfSize(100_000) }]).expect(201);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 100_000 });
    expect((await kv.get('big').expect(200)).body.value).toHaveLength(100_000 - 2);
  });

  it('accepts values summing to exactly 4194304 bytes, and refuses 4194305 with a "batch" message', async () => {
    const exact = [0, 1, 2, 3].map((i) => ({ key: `q${i}`, value: valueOfSize(MIB) }));
    await kv.batch(exact).expect(201);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 4 * MIB, objectCount: 4 });

    const other = await makeTenant(h, 16 * MIB);
    const over = [0, 1, 2, 3].map((i) => ({ key: `q${i}`, value: valueOfSize(i === 3 ? MIB + 1 : MIB) }));
    const res = await request(h.app).post('/api/batch/object').set(other.auth).send(over);
    expectError(res, 400, 'BATCH_TOO_LARGE', 'batch');
    expect(await expectLedgerExact(h, other.id)).toMatchObject({ utilised: 0, objectCount: 0 });
  });

  it('accepts a single item of exactly 4194304 bytes (MAX_BATCH_ITEM_BYTES defaults to the batch limit)', async () => {
    await kv.batch([{ key: 'whole', value: valueOfSize(4 * MIB) }]).expect(201);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 4 * MIB, objectCount: 1 });
  });

  it('stores 4 MiB of the characters SQL escaping doubles (quotes, backslashes) exactly', async () => {
    // JSON writes " and \ as two bytes each, and ' as one: the SQL text of this batch is about twice its size.
    const quotes = "'".repeat(2 * MIB - 1);
    const escaped = '"\\'.repeat(Math.floor((MIB - 1) / 2));
    const items = [
      { key: 'single', value: quotes },
      { key: 'double', value: escaped },
    ];
    const total = items.reduce((sum, i) => sum + jsonSize(i.value), 0);
    expect(total).toBeLessThanOrEqual(4 * MIB);
    expect(total).toBeGreaterThan(4 * MIB - 16);
    await kv.batch(items).expect(201);
    expect((await kv.get('single').expect(200)).body.value).toBe(quotes);
    expect((await kv.get('double').expect(200)).body.value).toBe(escaped);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: total, objectCount: 2 });
  });

  it('accepts exactly MAX_BATCH_ITEMS (10000) items and refuses 10001', async () => {
    const items = Array.from({ length: 10000 }, (_, i) => ({ key: `item-${i}`, value: i }));
    await kv.batch(items).expect(201);
    const l = await expectLedgerExact(h, t.id);
    expect(l.objectCount).toBe(10000);
    expect(l.utilised).toBe(items.reduce((sum, i) => sum + jsonSize(i.value), 0));
    expect((await kv.get('item-9999').expect(200)).body.value).toBe(9999);

    const other = await makeTenant(h, 16 * MIB);
    const tooMany = Array.from({ length: 10001 }, (_, i) => ({ key: `item-${i}`, value: i }));
    const res = await request(h.app).post('/api/batch/object').set(other.auth).send(tooMany);
    expectError(res, 400, 'BATCH_TOO_MANY_ITEMS', '10000');
    expect(await expectLedgerExact(h, other.id)).toMatchObject({ objectCount: 0 });
  });

  it('overwrites 10000 existing keys in one batch with an exact ledger', async () => {
    const first = Array.from({ length: 10000 }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(i % 7) }));
    await kv.batch(first).expect(201);
    const second = Array.from({ length: 10000 }, (_, i) => ({ key: `k${i}`, value: 'y'.repeat((i * 3) % 11) }));
    await kv.batch(second).expect(201);
    const l = await expectLedgerExact(h, t.id);
    expect(l).toMatchObject({ objectCount: 10000, utilised: second.reduce((s, i) => s + jsonSize(i.value), 0) });
  });

  it('refuses a batch that would pass the quota with 403 and writes none of it', async () => {
    const small = await makeTenant(h, 1000);
    await request(h.app)
      .post('/api/batch/object')
      .set(small.auth)
      .send([{ key: 'keep', value: valueOfSize(400) }])
      .expect(201);
    const res = await request(h.app)
      .post('/api/batch/object')
      .set(small.auth)
      .send([
        { key: 'n1', value: valueOfSize(300) },
        { key: 'n2', value: valueOfSize(301) },
      ]);
    expectError(res, 403, 'QUOTA_EXCEEDED', 'quota exceeded');
    for (const key of ['n1', 'n2']) {
      expectError(await request(h.app).get(objectPath(key)).set(small.auth), 404);
    }
    expect(await expectLedgerExact(h, small.id)).toMatchObject({ utilised: 400, objectCount: 1 });
    // Exactly up to the quota is fine, and an overwrite in the batch is charged its difference only.
    await request(h.app)
      .post('/api/batch/object')
      .set(small.auth)
      .send([
        { key: 'keep', value: valueOfSize(100) },
        { key: 'n1', value: valueOfSize(900) },
      ])
      .expect(201);
    expect(await expectLedgerExact(h, small.id)).toMatchObject({ utilised: 1000, objectCount: 2 });
  });

  it('reads bodies up to 8 MiB and answers 413 JSON past that', async () => {
    // Just under 8 MiB of body; the values themselves are over the 4 MiB batch limit, so a 400 (not a 413).
    const value = 'x'.repeat(8 * MIB - 100);
    const under = JSON.stringify([{ key: 'a', value }]);
    expect(Buffer.byteLength(under)).toBeLessThanOrEqual(8 * MIB);
    const parsed = await request(h.app)
      .post('/api/batch/object')
      .set(t.auth)
      .set('Content-Type', 'application/json')
      .send(under);
    expectError(parsed, 400, 'VALUE_TOO_LARGE');

    const over = JSON.stringify([{ key: 'a', value: 'x'.repeat(8 * MIB) }]);
    expect(Buffer.byteLength(over)).toBeGreaterThan(8 * MIB);
    const res = await request(h.app)
      .post('/api/batch/object')
      .set(t.auth)
      .set('Content-Type', 'application/json')
      .send(over);
    expectError(res, 413, 'PAYLOAD_TOO_LARGE');
    expect((await ledger(h, t.id)).objectCount).toBe(0);
  });

  it('honours a smaller MAX_BATCH_ITEM_BYTES', async () => {
    const small = await harness(target, { env: { MAX_BATCH_ITEM_BYTES: '100' } });
    try {
      const tenant = await makeTenant(small);
      await request(small.app)
        .post('/api/batch/object')
        .set(tenant.auth)
        .send([{ key: 'a', value: valueOfSize(100) }])
        .expect(201);
      const res = await request(small.app)
        .post('/api/batch/object')
        .set(tenant.auth)
        .send([{ key: 'b', value: valueOfSize(101) }]);
      expectError(res, 400, 'VALUE_TOO_LARGE', 'batch item 0');
      expect(await expectLedgerExact(small, tenant.id)).toMatchObject({ utilised: 100, objectCount: 1 });
    } finally {
      await small.close();
    }
  });

  if (target === 'mysql') {
    it('keeps at most 16 prepared statements open per connection, however many batch sizes it sees', async () => {
      const openStatements = async (): Promise<number> => {
        const [rows] = (await h.db.knex.raw("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")) as [{ Value: string }[]];
        return Number(rows[0].Value);
      };
      const before = await openStatements();
      let during = 0;
      const rollback = new Error('roll back: only the statements were wanted');
      await expect(
        h.db.transaction(async (sql) => {
          // 40 batch sizes on one connection: 40 distinct statements, without a cap 40 left open.
          for (let n = 2; n < 42; n++) {
            const rows = Array.from({ length: n }, (_, i) => ({
              tenant_id: t.id,
              k: `s${n}-${i}`,
              value: '1',
              size: 1,
              expires_at: null,
            }));
            await sql.insert('objects', rows, { key: ['tenant_id', 'k'], update: ['value', 'size', 'expires_at'] });
          }
          during = await openStatements();
          throw rollback;
        }),
      ).rejects.toBe(rollback);
      expect(during - before).toBeGreaterThan(0);
      expect(during - before).toBeLessThanOrEqual(16);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0, utilised: 0 });
    });
  }

  it('writes a batch larger than one prepared statement can carry (MAX_BATCH_ITEMS raised to 14000)', async () => {
    // 14000 rows × 5 columns is past MySQL's 65535 placeholders: such a batch is sent as text instead.
    const big = await harness(target, { env: { MAX_BATCH_ITEMS: '14000' } });
    try {
      const tenant = await makeTenant(big, 16 * MIB);
      const items = Array.from({ length: 14000 }, (_, i) => ({ key: `n-${i}`, value: `v'${i}` }));
      await request(big.app).post('/api/batch/object').set(tenant.auth).send(items).expect(201);
      const l = await expectLedgerExact(big, tenant.id);
      expect(l).toMatchObject({ objectCount: 14000, utilised: items.reduce((sum, i) => sum + jsonSize(i.value), 0) });
      const last = await request(big.app).get(objectPath('n-13999')).set(tenant.auth).expect(200);
      expect(last.body.value).toBe("v'13999");
    } finally {
      await big.close();
    }
  });
});
