import {
  api,
  describeTargets,
  expectError,
  expectLedgerExact,
  jsonSize,
  ledger,
  listen,
  makeTenant,
  prng,
  request,
  storedKeys,
  valueOfSize,
  writeExpiredInDb,
  type Harness,
  type TestTenant,
} from '../../support/harness';

/** DELETE /api/objects?prefix=… (or all=true): a key range deleted in chunks, each one refunding transaction. */

type Target = Harness['app'] | string;

function deleteRange(target: Target, t: TestTenant, query: Record<string, string | boolean>) {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return request(target)
    .delete(`/api/objects${qs ? `?${qs}` : ''}`)
    .set(t.auth);
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const sortedByBytes = (keys: string[]): string[] => [...keys].sort(byteOrder);

/**
 * The ledger next to what is stored, read in one statement (one snapshot): utilised against the sum of the rows'
 * sizes and against the bytes of their values and metadata, object_count against the rows.
 */
async function snapshot(h: Harness, tenantId: number) {
  const len = h.db.dialect.byteLength;
  const [row] = await h.db.sql.select(
    `SELECT t.utilised AS utilised, t.object_count AS object_count, t.revision AS revision,
       (SELECT COALESCE(SUM(o.size), 0) FROM objects o WHERE o.tenant_id = t.id) AS sizes,
       (SELECT COALESCE(SUM(${len('o.value')} + COALESCE(${len('o.metadata')}, 0)), 0)
          FROM objects o WHERE o.tenant_id = t.id) AS bytes,
       (SELECT COUNT(*) FROM objects o WHERE o.tenant_id = t.id) AS n
     FROM tenants t WHERE t.id = ?`,
    [tenantId],
  );
  return {
    utilised: Number(row.utilised),
    objectCount: Number(row.object_count),
    revision: Number(row.revision),
    sizes: Number(row.sizes),
    bytes: Number(row.bytes),
    rows: Number(row.n),
  };
}

function expectExact(s: Awaited<ReturnType<typeof snapshot>>): void {
  expect({ utilised: s.utilised, sizes: s.sizes, objectCount: s.objectCount }).toEqual({
    utilised: s.bytes,
    sizes: s.bytes,
    objectCount: s.rows,
  });
}

/** Keys around the high code points, where the end of a prefix's range is computed rather than written. */
const HIGH_KEYS = [
  '\u{10FFFF}',
  '\u{10FFFF}a',
  '\u{10FFFF}\u{10FFFF}',
  '\uFFFF',
  '\uFFFFz',
  '\u{10000}',
  '😀',
  '😀x',
  '😁',
  '\u{1F5FF}',
  '\uD7FF',
  '\uD7FFa',
  '\uE000',
  'x',
  'x\u{10FFFF}',
  'x\u{10FFFF}y',
  'x\u{10FFFF}\u{10FFFF}',
  'y',
];

describeTargets('deleting a prefix', (h) => {
  async function writeKeys(t: TestTenant, keys: string[], ttl?: number): Promise<void> {
    await api(h, t)
      .batch(keys.map((key) => (ttl === undefined ? { key, value: key } : { key, value: key, ttl })))
      .expect(201);
  }

  it('deletes every key under the prefix and none of its neighbours, in one revision, refunding exactly', async () => {
    const t = await makeTenant(h);
    const inside = ['a/', 'a/x', 'a/y/z', 'a//', 'a/\u{10FFFF}', 'a/😀'];
    const outside = ['a', 'a0', 'a.', 'a.b', 'ab', 'A/x', 'b/a/', '/a/', 'a\\', 'a-'];
    await writeKeys(t, [...outside, ...inside]);
    await request(h.app)
      .post('/api/object')
      .set(t.auth)
      .send({ key: 'a/meta', value: 'v', metadata: { tag: 'x'.repeat(40) } })
      .expect(201);
    const before = await expectLedgerExact(h, t.id);
    const res = await deleteRange(h.app, t, { prefix: 'a/' }).expect(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body).toEqual({ deleted: inside.length + 1 });
    expect(await storedKeys(h, t.id)).toEqual([...outside].sort());
    const after = await expectLedgerExact(h, t.id);
    expect(after).toMatchObject({
      utilised: outside.reduce((sum, k) => sum + jsonSize(k), 0),
      objectCount: outside.length,
      revision: before.revision + 1,
    });
    expectExact(await snapshot(h, t.id));
    // Again: nothing left under it, nothing changes, not even the revision.
    expect((await deleteRange(h.app, t, { prefix: 'a/' }).expect(200)).body).toEqual({ deleted: 0 });
    expect(await ledger(h, t.id)).toEqual(after);
  });

  it('takes LIKE wildcards and escapes in a prefix as plain text', async () => {
    const t = await makeTenant(h);
    await writeKeys(t, ['50%', '50%off', '500', 'a_b', 'aXb', 'x\\y', 'x\\\\', 'xy']);
    expect((await deleteRange(h.app, t, { prefix: '50%' }).expect(200)).body).toEqual({ deleted: 2 });
    expect((await deleteRange(h.app, t, { prefix: 'a_' }).expect(200)).body).toEqual({ deleted: 1 });
    expect((await deleteRange(h.app, t, { prefix: 'x\\' }).expect(200)).body).toEqual({ deleted: 2 });
    expect(await storedKeys(h, t.id)).toEqual(['500', 'aXb', 'xy']);
    await expectLedgerExact(h, t.id);
  });

  it.each<[string, string]>([
    ['U+10FFFF, the last code point', '\u{10FFFF}'],
    ['U+FFFF, the last of the BMP', '\uFFFF'],
    ['an emoji (4 bytes)', '😀'],
    ['U+D7FF, the last before the surrogates', '\uD7FF'],
    ['a letter then U+10FFFF', 'x\u{10FFFF}'],
    ['a letter then two U+10FFFF', 'x\u{10FFFF}\u{10FFFF}'],
  ])('works for a prefix ending in %s', async (_name, prefix) => {
    const t = await makeTenant(h);
    await writeKeys(t, HIGH_KEYS);
    const inside = HIGH_KEYS.filter((k) => k.startsWith(prefix));
    expect(inside.length).toBeGreaterThan(0);
    expect((await deleteRange(h.app, t, { prefix }).expect(200)).body).toEqual({ deleted: inside.length });
    const left = (await storedKeys(h, t.id)).sort(byteOrder);
    expect(left).toEqual(sortedByBytes(HIGH_KEYS.filter((k) => !k.startsWith(prefix))));
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: HIGH_KEYS.length - inside.length });
  });

  it('deletes every key with all=true', async () => {
    const t = await makeTenant(h);
    await writeKeys(t, HIGH_KEYS);
    await writeExpiredInDb(h, (ttl) => writeKeys(t, ['expired/1', 'expired/2'], ttl));
    const before = await ledger(h, t.id);
    expect((await deleteRange(h.app, t, { all: true }).expect(200)).body).toEqual({ deleted: HIGH_KEYS.length });
    expect(await storedKeys(h, t.id)).toEqual([]);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({
      utilised: 0,
      objectCount: 0,
      revision: before.revision + 1,
    });
    expect((await deleteRange(h.app, t, { all: true }).expect(200)).body).toEqual({ deleted: 0 });
    expect((await ledger(h, t.id)).revision).toBe(before.revision + 1);
  });

  it('refuses neither a prefix nor all=true, and both, deleting nothing', async () => {
    const t = await makeTenant(h);
    await writeKeys(t, ['a', 'b']);
    const before = await ledger(h, t.id);
    const refused: Record<string, string | boolean>[] = [
      {},
      { prefix: '' },
      { all: false },
      { prefix: '', all: false },
      { prefix: 'a', all: true },
      { prefix: '', all: true },
      { all: 'yes' },
      { prefix: 'p'.repeat(2049) },
    ];
    for (const query of refused) expectError(await deleteRange(h.app, t, query), 400, 'VALIDATION_FAILED');
    expectError(
      await deleteRange(h.app, t, { prefix: 'a', all: true }),
      400,
      'VALIDATION_FAILED',
      'prefix: send a prefix or all=true, not both',
    );
    expectError(await deleteRange(h.app, t, {}), 400, 'VALIDATION_FAILED', 'a non-empty prefix is required');
    expect(await ledger(h, t.id)).toEqual(before);
    expect(await storedKeys(h, t.id)).toEqual(['a', 'b']);
    // all=false with a prefix is just the prefix.
    expect((await deleteRange(h.app, t, { prefix: 'a', all: false }).expect(200)).body).toEqual({ deleted: 1 });
  });

  it("never touches another tenant's keys, and needs the write scope", async () => {
    const a = await makeTenant(h);
    const b = await makeTenant(h);
    await writeKeys(a, ['p/1', 'p/2', 'q']);
    await writeKeys(b, ['p/1', 'p/2', 'p/3', 'q']);
    const bBefore = await ledger(h, b.id);
    expect((await deleteRange(h.app, a, { prefix: 'p/' }).expect(200)).body).toEqual({ deleted: 2 });
    expect((await deleteRange(h.app, a, { all: true }).expect(200)).body).toEqual({ deleted: 1 });
    expect(await ledger(h, b.id)).toEqual(bBefore);
    expect(await storedKeys(h, b.id)).toEqual(['p/1', 'p/2', 'p/3', 'q']);
    const readOnly = h.tokens.issue({ tenantId: b.id, scopes: ['read'], tokenVersion: 0 }, h.clock.nowSeconds());
    expectError(
      await request(h.app).delete('/api/objects?all=true').set('Authorization', `Bearer ${readOnly.token}`),
      403,
      'INSUFFICIENT_SCOPE',
    );
    expect(await storedKeys(h, b.id)).toEqual(['p/1', 'p/2', 'p/3', 'q']);
  });
});

describeTargets(
  'deleting a prefix in chunks of 7',
  (h) => {
    async function writeKeys(t: TestTenant, keys: string[], ttl?: number): Promise<void> {
      await api(h, t)
        .batch(keys.map((key) => (ttl === undefined ? { key, value: key } : { key, value: key, ttl })))
        .expect(201);
    }
    const keysFrom = (prefix: string, n: number): string[] =>
      Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);

    it('takes one revision per chunk: 20 keys in 3, 21 in 3, 22 in 4, none in none', async () => {
      expect(h.config.purgeChunkRows).toBe(7);
      const t = await makeTenant(h);
      await writeKeys(t, [...keysFrom('a/', 20), ...keysFrom('b/', 21), ...keysFrom('c/', 22), 'a', 'b', 'c']);
      for (const [prefix, n, chunks] of [
        ['a/', 20, 3],
        ['b/', 21, 3],
        ['c/', 22, 4],
        ['d/', 0, 0],
      ] as const) {
        const before = await ledger(h, t.id);
        expect((await deleteRange(h.app, t, { prefix }).expect(200)).body).toEqual({ deleted: n });
        const after = await expectLedgerExact(h, t.id);
        expect(after.revision - before.revision).toBe(chunks);
        expect(before.objectCount - after.objectCount).toBe(n);
      }
      expect(await storedKeys(h, t.id)).toEqual(['a', 'b', 'c']);
    });

    it('is exact at every commit: after each chunk the ledger equals what is stored', async () => {
      const t = await makeTenant(h, 64 * 1024 * 1024);
      const rand = prng(7001);
      const keys = keysFrom('big/', 100);
      // Sizes vary, and some objects carry metadata, so a chunk refunding the wrong amount would show.
      for (let i = 0; i < keys.length; i += 25) {
        await api(h, t)
          .batch(
            keys.slice(i, i + 25).map((key) => ({
              key,
              value: valueOfSize(2 + Math.floor(rand() * 3000)),
              ...(rand() < 0.4 ? { metadata: { n: rand(), note: 'é'.repeat(Math.floor(rand() * 50)) } } : {}),
            })),
          )
          .expect(201);
      }
      await writeExpiredInDb(h, (ttl) => writeKeys(t, ['big/0050x', 'big/0099x', 'big/9'], ttl));
      await writeKeys(t, ['bif', 'big', 'bih', 'big0']);
      const start = await snapshot(h, t.id);
      expectExact(start);
      const seen: Awaited<ReturnType<typeof snapshot>>[] = [];
      const pipeline = h.container.pipeline;
      const original = pipeline.deleteRangeChunk.bind(pipeline);
      const spy = jest.spyOn(pipeline, 'deleteRangeChunk').mockImplementation(async (...args) => {
        const step = await original(...args);
        seen.push(await snapshot(h, t.id));
        return step;
      });
      try {
        expect((await deleteRange(h.app, t, { prefix: 'big/' }).expect(200)).body).toEqual({ deleted: 100 });
      } finally {
        spy.mockRestore();
      }
      // 103 rows in the range: 15 chunks of 7, the last short.
      expect(seen).toHaveLength(15);
      seen.forEach((s, i) => {
        expectExact(s);
        expect(s.revision).toBe(start.revision + i + 1);
        expect(s.rows).toBe(start.rows - Math.min(103, 7 * (i + 1)));
      });
      expect(await storedKeys(h, t.id)).toEqual(['bif', 'big', 'big0', 'bih']);
    });

    it('removes and refunds expired objects in the range, counting only the live ones as deleted', async () => {
      const t = await makeTenant(h);
      await writeExpiredInDb(h, (ttl) => writeKeys(t, keysFrom('e/x', 9), ttl));
      await writeKeys(t, keysFrom('e/l', 9));
      await writeKeys(t, ['e', 'f/1']);
      const before = await ledger(h, t.id);
      expect((await deleteRange(h.app, t, { prefix: 'e/' }).expect(200)).body).toEqual({ deleted: 9 });
      expect(await storedKeys(h, t.id)).toEqual(['e', 'f/1']);
      const after = await expectLedgerExact(h, t.id);
      expect(after.revision - before.revision).toBe(3);
      // An expired-only range is still removed, refunded, and takes its revision; 0 live objects deleted.
      await writeExpiredInDb(h, (ttl) => writeKeys(t, keysFrom('g/', 3), ttl));
      const mid = await ledger(h, t.id);
      expect((await deleteRange(h.app, t, { prefix: 'g/' }).expect(200)).body).toEqual({ deleted: 0 });
      expect(await expectLedgerExact(h, t.id)).toMatchObject({
        utilised: mid.utilised - 3 * jsonSize('g/0000'),
        objectCount: mid.objectCount - 3,
        revision: mid.revision + 1,
      });
    });

    describe('under concurrent writes', () => {
      let server: { url: string; close(): Promise<void> };
      beforeAll(async () => {
        server = await listen(h);
      });
      afterAll(async () => {
        await server.close();
      });

      it('leaves the keys written outside the range all there, and the ledger exact', async () => {
        const t = await makeTenant(h, 64 * 1024 * 1024);
        const range = keysFrom('del/', 300);
        await writeKeys(t, range);
        // Neighbours on both sides of the range, written while it is deleted.
        const rand = prng(4242);
        const outside = Array.from({ length: 120 }, (_, i) =>
          rand() < 0.5 ? `dek/${String(i).padStart(4, '0')}` : `del0${String(i).padStart(4, '0')}`,
        );
        outside.push('del', 'del.', 'dem/0', 'del\\');
        const kv = api(server.url, t);
        const expected = new Map<string, number>();
        const writes = outside.map(async (key, i) => {
          const size = 2 + Math.floor(rand() * 500);
          expected.set(key, size);
          const res =
            i % 3 === 0 ? await kv.batch([{ key, value: valueOfSize(size) }]) : await kv.put(key, valueOfSize(size));
          return res.status;
        });
        const [deleted, ...statuses] = await Promise.all([
          deleteRange(server.url, t, { prefix: 'del/' }).expect(200),
          ...writes,
        ]);
        expect(deleted.body).toEqual({ deleted: 300 });
        expect(statuses.every((s) => s === 201)).toBe(true);
        expect(await storedKeys(h, t.id)).toEqual([...expected.keys()].sort());
        const l = await expectLedgerExact(h, t.id);
        expect(l).toMatchObject({
          objectCount: expected.size,
          utilised: [...expected.values()].reduce((a, b) => a + b, 0),
        });
        expectExact(await snapshot(h, t.id));
        // 300 keys in 43 chunks (the last of 6), and a revision for each write outside.
        expect(l.revision).toBe(1 + 43 + expected.size);
      });

      it('keeps the ledger exact when keys are written into the range while it runs; some may survive', async () => {
        const t = await makeTenant(h, 64 * 1024 * 1024);
        await writeKeys(t, keysFrom('in/', 200));
        const rand = prng(99);
        const during = Array.from(
          { length: 80 },
          (_, i) => `in/${String(Math.floor(rand() * 200)).padStart(4, '0')}${i % 2 ? 'z' : ''}`,
        );
        const writes = [...new Set(during)].map((key) => api(server.url, t).put(key, valueOfSize(10)).expect(201));
        const [deleted] = await Promise.all([deleteRange(server.url, t, { prefix: 'in/' }).expect(200), ...writes]);
        // Every key there when the walk began is deleted (overwritten or not); keys written ahead of it may be too.
        expect(deleted.body.deleted).toBeGreaterThanOrEqual(200);
        expect(deleted.body.deleted).toBeLessThanOrEqual(200 + new Set(during).size);
        const left = await storedKeys(h, t.id);
        expect(left.every((k) => during.includes(k))).toBe(true);
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: left.length });
        expectExact(await snapshot(h, t.id));
        // What survived can still be deleted.
        expect((await deleteRange(h.app, t, { prefix: 'in/' }).expect(200)).body).toEqual({ deleted: left.length });
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
      });
    });
  },
  { env: { PURGE_CHUNK_ROWS: '7' } },
);
