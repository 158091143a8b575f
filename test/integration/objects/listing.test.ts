import {
  api,
  describeTargets,
  expectError,
  jsonSize,
  listen,
  makeTenant,
  objectPath,
  prng,
  request,
  valueOfSize,
  writeExpiredInDb,
  type Harness,
  type TestTenant,
} from '../../support/harness';

/** GET /api/objects: listing by prefix, in UTF-8 byte order, paged by opaque cursors. */

const MIB = 1024 * 1024;

interface ListedItem {
  key: string;
  size: number;
  ttl: number;
  expires_in: number;
  version: number;
  metadata?: Record<string, unknown>;
  value?: unknown;
}

interface Page {
  items: ListedItem[];
  cursor: string | null;
  list_complete: boolean;
  count?: number;
}

type Query = Record<string, string | number | boolean | undefined>;

/** Either the in-process app or the URL of one on a real port. */
type Target = Harness['app'] | string;

function listRequest(target: Target, t: TestTenant, query: Query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const qs = params.toString();
  return request(target)
    .get(`/api/objects${qs ? `?${qs}` : ''}`)
    .set(t.auth);
}

/** One page, checked for the shape every page has: cursor null exactly when complete, never empty unless complete. */
async function page(target: Target, t: TestTenant, query: Query = {}): Promise<Page> {
  const res = await listRequest(target, t, query);
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  const body = res.body as Page;
  expect(typeof body.list_complete).toBe('boolean');
  if (body.list_complete) expect(body.cursor).toBeNull();
  else {
    expect(typeof body.cursor).toBe('string');
    expect(body.items.length).toBeGreaterThan(0);
  }
  if (query.count !== true) expect(body).not.toHaveProperty('count');
  return body;
}

/** Every page of a listing, following the cursors. */
async function listAll(target: Target, t: TestTenant, query: Query = {}): Promise<{ pages: Page[]; keys: string[] }> {
  const pages: Page[] = [];
  let cursor = query.cursor as string | undefined;
  for (;;) {
    const p = await page(target, t, { ...query, cursor });
    pages.push(p);
    if (p.list_complete) break;
    cursor = p.cursor as string;
    if (pages.length > 2000) throw new Error('the listing does not end');
  }
  return { pages, keys: pages.flatMap((p) => p.items.map((i) => i.key)) };
}

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');
const byteOrder = (a: string, b: string): number => Buffer.compare(utf8(a), utf8(b));
/** A cursor with one character changed. */
const flip = (s: string, at: number): string => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
const sortedByBytes = (keys: string[]): string[] => [...keys].sort(byteOrder);

describeTargets('listing keys', (h) => {
  const put = (t: TestTenant, body: Record<string, unknown>) =>
    request(h.app).post('/api/object').set(t.auth).send(body);

  /** Writes these keys (value: the key itself) in one batch. */
  async function writeKeys(t: TestTenant, keys: string[], ttl?: number): Promise<void> {
    await api(h, t)
      .batch(keys.map((key) => (ttl === undefined ? { key, value: key } : { key, value: key, ttl })))
      .expect(201);
  }

  describe('order', () => {
    // UTF-16 order (JavaScript's sort) puts the astral characters (surrogates, 0xD800–0xDFFF) before U+E000–U+FFFF;
    // UTF-8 byte order puts them after: this set tells the two apart.
    const keys = [
      'b',
      '\u{10FFFF}',
      'a',
      '😀',
      'A',
      '中',
      'é',
      '\uFFFF',
      '\uE000',
      '\u{10000}',
      '\uD7FF',
      'a b',
      'a/b',
      'ab',
      'Z',
      '~',
      '\u00A0',
      '\u{1F600}x',
      '😁',
      'é\u{10FFFF}',
    ];

    it('gives keys in byte order of their UTF-8 form: A < a < b < é < 中 < 😀 < U+10FFFF', async () => {
      const t = await makeTenant(h);
      await writeKeys(t, keys);
      const expected = sortedByBytes(keys);
      // The test means something only if byte order is not the order JavaScript sorts strings in.
      expect(expected).not.toEqual([...keys].sort());
      const one = await page(h.app, t, { limit: 1000 });
      expect(one.list_complete).toBe(true);
      expect(one.items.map((i) => i.key)).toEqual(expected);
      const named = ['A', 'a', 'b', 'é', '中', '😀', '\u{10FFFF}'];
      expect(expected.filter((k) => named.includes(k))).toEqual(named);
    });

    it('gives the same order one key at a time, each exactly once, across pages of limit 1', async () => {
      const t = await makeTenant(h);
      await writeKeys(t, keys);
      const { pages, keys: listed } = await listAll(h.app, t, { limit: 1 });
      expect(listed).toEqual(sortedByBytes(keys));
      expect(pages).toHaveLength(keys.length);
      expect(pages.every((p) => p.items.length === 1)).toBe(true);
    });
  });

  describe('prefixes', () => {
    it('lists only the keys that start with the prefix, not its neighbours one byte on', async () => {
      const t = await makeTenant(h);
      const all = ['a', 'a/', 'a/x', 'a/y/z', 'a/\u{10FFFF}', 'a0', 'a.', 'a.b', 'ab', 'A/x', 'b/', '/a/x', 'a//'];
      await writeKeys(t, all);
      expect((await listAll(h.app, t, { prefix: 'a/' })).keys).toEqual(['a/', 'a//', 'a/x', 'a/y/z', 'a/\u{10FFFF}']);
      expect((await listAll(h.app, t, { prefix: 'a' })).keys).toEqual(
        sortedByBytes(all.filter((k) => k.startsWith('a'))),
      );
      expect((await listAll(h.app, t, { prefix: 'a/y/z' })).keys).toEqual(['a/y/z']);
      expect((await listAll(h.app, t, { prefix: 'a/y/z/' })).keys).toEqual([]);
      expect((await listAll(h.app, t, { prefix: 'nothing' })).keys).toEqual([]);
      // An empty prefix, or none, is every key.
      expect((await listAll(h.app, t, { prefix: '' })).keys).toEqual(sortedByBytes(all));
      expect((await listAll(h.app, t)).keys).toEqual(sortedByBytes(all));
    });

    it('treats characters LIKE or a query string would read specially as plain text', async () => {
      const t = await makeTenant(h);
      const all = [
        '50%',
        '50%off',
        '500',
        'a_b',
        'a_c',
        'aXb',
        'x+y',
        'x y',
        'x&y=1',
        'q?',
        'q#',
        "it's",
        'back\\slash',
      ];
      await writeKeys(t, all);
      for (const prefix of ['50%', 'a_', 'x+', 'x ', 'x&y=', 'q?', 'q#', "it'", 'back\\']) {
        expect((await listAll(h.app, t, { prefix })).keys).toEqual(
          sortedByBytes(all.filter((k) => k.startsWith(prefix))),
        );
      }
    });

    it.each<[string, string]>([
      ['U+10FFFF, the last code point', '\u{10FFFF}'],
      ['U+FFFF, the last of the BMP', '\uFFFF'],
      ['an emoji (4 bytes)', '😀'],
      ['U+D7FF, the last before the surrogates', '\uD7FF'],
      ['two U+10FFFF after a letter', 'x\u{10FFFF}\u{10FFFF}'],
      ['a letter then U+10FFFF', 'x\u{10FFFF}'],
    ])('works for a prefix ending in %s', async (_name, prefix) => {
      const t = await makeTenant(h);
      const all = [
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
        'x\u{10FFFF}\u{10FFFF}!',
        'y',
      ];
      await writeKeys(t, all);
      const expected = sortedByBytes(all.filter((k) => k.startsWith(prefix)));
      expect(expected.length).toBeGreaterThan(0);
      expect((await listAll(h.app, t, { prefix })).keys).toEqual(expected);
      expect((await listAll(h.app, t, { prefix, limit: 1 })).keys).toEqual(expected);
      expect((await page(h.app, t, { prefix, count: true })).count).toBe(expected.length);
    });
  });

  describe('items', () => {
    it('gives key, size, ttl, expires_in and version, metadata when there is some, the value only with values=true', async () => {
      const t = await makeTenant(h);
      const now = h.clock.freeze();
      const plain = await put(t, { key: 'k/plain', value: { a: 1 } }).expect(201);
      const meta = await put(t, {
        key: 'k/meta',
        value: 'text',
        metadata: { owner: 'ada', tags: ['x', 'é'] },
        expires_in: 600,
      }).expect(201);
      const absolute = await put(t, { key: 'k/ttl', value: [1, 2, 3], ttl: now + 90 }).expect(201);
      const version = (res: { headers: Record<string, string> }): number => Number(JSON.parse(res.headers.etag));

      const bare = await page(h.app, t, { prefix: 'k/' });
      expect(bare).toEqual({
        items: [
          {
            key: 'k/meta',
            size: jsonSize('text') + jsonSize({ owner: 'ada', tags: ['x', 'é'] }),
            ttl: now + 600,
            expires_in: 600,
            version: version(meta),
            metadata: { owner: 'ada', tags: ['x', 'é'] },
          },
          { key: 'k/plain', size: jsonSize({ a: 1 }), ttl: 0, expires_in: 0, version: version(plain) },
          { key: 'k/ttl', size: jsonSize([1, 2, 3]), ttl: now + 90, expires_in: 90, version: version(absolute) },
        ],
        cursor: null,
        list_complete: true,
      });
      expect(Object.keys(bare.items[1])).toEqual(['key', 'size', 'ttl', 'expires_in', 'version']);
      expect(new Set(bare.items.map((i) => i.version)).size).toBe(3);

      const withValues = await page(h.app, t, { prefix: 'k/', values: true });
      expect(withValues.items.map((i) => [i.key, i.value])).toEqual([
        ['k/meta', 'text'],
        ['k/plain', { a: 1 }],
        ['k/ttl', [1, 2, 3]],
      ]);
      expect(withValues.items.map(({ value: _value, ...rest }) => rest)).toEqual(bare.items);
      expect((await page(h.app, t, { prefix: 'k/', values: false })).items).toEqual(bare.items);
    });

    it('lists a value of null as null with values=true, and a version that follows overwrites', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('n', null).expect(201);
      const first = (await page(h.app, t, { values: true })).items;
      expect(first).toEqual([{ key: 'n', size: 4, ttl: 0, expires_in: 0, version: 1, value: null }]);
      await api(h, t).put('n', 'now a string').expect(201);
      expect((await page(h.app, t, { values: true })).items).toEqual([
        { key: 'n', size: jsonSize('now a string'), ttl: 0, expires_in: 0, version: 2, value: 'now a string' },
      ]);
    });
  });

  describe('limits', () => {
    it('pages 100 keys at a time by default', async () => {
      const t = await makeTenant(h);
      const keys = Array.from({ length: 101 }, (_, i) => `d/${String(i).padStart(3, '0')}`);
      await writeKeys(t, keys);
      const first = await page(h.app, t);
      expect(first.items.map((i) => i.key)).toEqual(keys.slice(0, 100));
      expect(first.list_complete).toBe(false);
      const second = await page(h.app, t, { cursor: first.cursor as string });
      expect(second).toMatchObject({ list_complete: true, cursor: null });
      expect(second.items.map((i) => i.key)).toEqual(['d/100']);
    });

    it('takes limit 1000 and refuses 1001 and 0', async () => {
      const t = await makeTenant(h, 4 * MIB);
      const keys = Array.from({ length: 1001 }, (_, i) => `m/${String(i).padStart(4, '0')}`);
      await writeKeys(t, keys);
      const first = await page(h.app, t, { limit: 1000 });
      expect(first.items.map((i) => i.key)).toEqual(keys.slice(0, 1000));
      expect(first.list_complete).toBe(false);
      const second = await page(h.app, t, { limit: 1000, cursor: first.cursor as string });
      expect(second.items.map((i) => i.key)).toEqual(['m/1000']);
      expect(second.list_complete).toBe(true);
      expectError(await listRequest(h.app, t, { limit: 1001 }), 400, 'VALIDATION_FAILED', 'limit');
      expectError(await listRequest(h.app, t, { limit: 0 }), 400, 'VALIDATION_FAILED', 'limit');
      expectError(await listRequest(h.app, t, { limit: 'ten' }), 400, 'VALIDATION_FAILED', 'limit');
      expectError(await listRequest(h.app, t, { limit: 2.5 }), 400, 'VALIDATION_FAILED', 'limit');
    });

    it('ends a listing of exactly `limit` keys on its first page, with no empty page after it', async () => {
      const t = await makeTenant(h);
      const keys = Array.from({ length: 7 }, (_, i) => `e/${i}`);
      await writeKeys(t, keys);
      const exact = await page(h.app, t, { limit: 7 });
      expect(exact).toMatchObject({ list_complete: true, cursor: null });
      expect(exact.items.map((i) => i.key)).toEqual(keys);
      await writeKeys(t, ['e/7']);
      const { pages, keys: listed } = await listAll(h.app, t, { limit: 7 });
      expect(pages.map((p) => p.items.length)).toEqual([7, 1]);
      expect(listed).toEqual([...keys, 'e/7']);
    });

    it('stops a page with values before its values pass 4 MiB, and gives at least one item', async () => {
      const t = await makeTenant(h, 16 * MIB);
      // Two values of 2 MiB fill a page exactly; the third (1 byte) would pass 4 MiB by a byte.
      await api(h, t)
        .batch([{ key: 'v/1', value: valueOfSize(2 * MIB) }])
        .expect(201);
      await api(h, t)
        .batch([{ key: 'v/2', value: valueOfSize(2 * MIB) }])
        .expect(201);
      await api(h, t)
        .batch([{ key: 'v/3', value: 1 }])
        .expect(201);
      await api(h, t)
        .batch([{ key: 'v/4', value: valueOfSize(4 * MIB) }])
        .expect(201);
      await api(h, t)
        .batch([{ key: 'v/5', value: 'small' }])
        .expect(201);
      const p1 = await page(h.app, t, { prefix: 'v/', values: true, limit: 10 });
      expect(p1.items.map((i) => [i.key, i.size])).toEqual([
        ['v/1', 2 * MIB],
        ['v/2', 2 * MIB],
      ]);
      expect(p1.items.every((i) => typeof i.value === 'string' && i.value.length === 2 * MIB - 2)).toBe(true);
      expect(p1.list_complete).toBe(false);
      const p2 = await page(h.app, t, { prefix: 'v/', values: true, limit: 10, cursor: p1.cursor as string });
      expect(p2.items.map((i) => i.key)).toEqual(['v/3']);
      // A value of 4 MiB alone still makes a page.
      const p3 = await page(h.app, t, { prefix: 'v/', values: true, limit: 10, cursor: p2.cursor as string });
      expect(p3.items.map((i) => [i.key, i.size])).toEqual([['v/4', 4 * MIB]]);
      const p4 = await page(h.app, t, { prefix: 'v/', values: true, limit: 10, cursor: p3.cursor as string });
      expect(p4).toMatchObject({ list_complete: true, cursor: null });
      expect(p4.items.map((i) => [i.key, i.value])).toEqual([['v/5', 'small']]);
      // Without values, the sizes do not bound a page.
      expect((await page(h.app, t, { prefix: 'v/', limit: 10 })).items).toHaveLength(5);
    });
  });

  describe('expiry and count', () => {
    it('never lists an expired object, never gives an empty page before the end, and counts only live keys', async () => {
      const t = await makeTenant(h);
      const all = Array.from({ length: 40 }, (_, i) => `x/${String(i).padStart(2, '0')}`);
      const live = all.filter((_, i) => i % 6 === 5);
      const expired = all.filter((_, i) => i % 6 !== 5);
      await writeKeys(t, live);
      await writeExpiredInDb(h, (ttl) => writeKeys(t, expired, ttl));
      await writeKeys(t, ['x0', 'w/1']);
      // The expired rows are still there (they hold their bytes until purged or reclaimed).
      const rows = await h.db.knex('objects').where('tenant_id', t.id).count({ n: '*' });
      expect(Number(rows[0].n)).toBe(42);
      for (const limit of [1, 2, 3, 100]) {
        const { pages, keys } = await listAll(h.app, t, { prefix: 'x/', limit });
        expect(keys).toEqual(live);
        expect(pages).toHaveLength(Math.max(1, Math.ceil(live.length / limit)));
      }
      const counted = await page(h.app, t, { prefix: 'x/', count: true, limit: 2 });
      expect(counted.count).toBe(live.length);
      // count is the whole prefix's, on every page.
      const next = await page(h.app, t, { prefix: 'x/', count: true, limit: 2, cursor: counted.cursor as string });
      expect(next.count).toBe(live.length);
      expect((await page(h.app, t, { count: true })).count).toBe(live.length + 2);
      expect((await page(h.app, t, { prefix: 'none/', count: true })).count).toBe(0);
      expect((await page(h.app, t, { prefix: 'x/', count: false })).items).toHaveLength(live.length);
    });

    it('drops a key from the listing and the count once its expiry passes', async () => {
      const t = await makeTenant(h);
      h.clock.freeze();
      await put(t, { key: 'soon', value: 1, expires_in: 10 }).expect(201);
      await put(t, { key: 'later', value: 2, expires_in: 20 }).expect(201);
      await put(t, { key: 'never', value: 3 }).expect(201);
      expect((await page(h.app, t, { count: true })).count).toBe(3);
      h.clock.offsetSeconds = 10;
      const after10 = await page(h.app, t, { count: true });
      expect(after10.items.map((i) => [i.key, i.expires_in])).toEqual([
        ['later', 10],
        ['never', 0],
      ]);
      expect(after10.count).toBe(2);
      h.clock.offsetSeconds = 20;
      expect(await page(h.app, t, { count: true })).toMatchObject({ items: [{ key: 'never' }], count: 1 });
    });
  });

  describe('cursors', () => {
    it('refuses a cursor with another prefix, another tenant, altered or made up with 400 INVALID_CURSOR', async () => {
      const a = await makeTenant(h);
      const b = await makeTenant(h);
      const keys = ['p/1', 'p/2', 'p/3', 'q/1'];
      await writeKeys(a, keys);
      await writeKeys(b, keys);
      const first = await page(h.app, a, { prefix: 'p/', limit: 1 });
      const cursor = first.cursor as string;
      // The same cursor, the same prefix, another limit: fine.
      expect((await page(h.app, a, { prefix: 'p/', limit: 5, cursor })).items.map((i) => i.key)).toEqual([
        'p/2',
        'p/3',
      ]);
      const refused: Query[] = [
        { prefix: 'q/', cursor },
        { prefix: 'p', cursor },
        { prefix: 'p/1', cursor },
        { cursor },
        { prefix: '', cursor },
        { prefix: 'p/', cursor: cursor.slice(0, -1) },
        { prefix: 'p/', cursor: flip(cursor, 3) }, // in the tag
        { prefix: 'p/', cursor: flip(cursor, 30) }, // in the position
        { prefix: 'p/', cursor: 'not-a-cursor' },
        { prefix: 'p/', cursor: Buffer.from(JSON.stringify({ after: 'p/1' })).toString('base64url') },
        { prefix: 'p/', cursor: Buffer.alloc(40).toString('base64url') },
        { prefix: 'p/', cursor: '' },
      ];
      for (const query of refused) {
        expectError(await listRequest(h.app, a, query), 400, 'INVALID_CURSOR', 'cursor');
      }
      // Tenant B, same prefix, same keys: A's cursor is not B's.
      expectError(await listRequest(h.app, b, { prefix: 'p/', limit: 1, cursor }), 400, 'INVALID_CURSOR');
      expectError(await listRequest(h.app, a, { prefix: 'p/', cursor: 'x'.repeat(4097) }), 400, 'VALIDATION_FAILED');
    });

    it('gives an empty last page when the keys after the cursor are deleted before it is used', async () => {
      const t = await makeTenant(h);
      await writeKeys(t, ['c/1', 'c/2', 'c/3']);
      const first = await page(h.app, t, { prefix: 'c/', limit: 1 });
      await api(h, t).del('c/2').expect(204);
      await api(h, t).del('c/3').expect(204);
      // Nothing is left to give: the listing is complete, and that is the one page that may be empty.
      expect(await page(h.app, t, { prefix: 'c/', limit: 1, cursor: first.cursor as string })).toEqual({
        items: [],
        cursor: null,
        list_complete: true,
      });
    });

    it('follows on from the last key given: a key deleted after its page was given is not given again', async () => {
      const t = await makeTenant(h);
      await writeKeys(t, ['f/1', 'f/2', 'f/3', 'f/4']);
      const first = await page(h.app, t, { prefix: 'f/', limit: 2 });
      expect(first.items.map((i) => i.key)).toEqual(['f/1', 'f/2']);
      await api(h, t).del('f/2').expect(204);
      await api(h, t).put('f/1', 'again').expect(201);
      await api(h, t).put('f/0', 'behind the cursor').expect(201);
      await api(h, t).put('f/25', 'ahead of it').expect(201);
      const rest = await listAll(h.app, t, { prefix: 'f/', limit: 2, cursor: first.cursor as string });
      expect(rest.keys).toEqual(['f/25', 'f/3', 'f/4']);
    });
  });

  describe('tenants and scopes', () => {
    it("never lists or counts another tenant's keys", async () => {
      const a = await makeTenant(h);
      const b = await makeTenant(h);
      await writeKeys(a, ['s/a1', 's/both', 'only-a']);
      await writeKeys(b, ['s/b1', 's/both', 's/b2']);
      expect(await page(h.app, a, { prefix: 's/', count: true })).toMatchObject({ count: 2 });
      expect((await listAll(h.app, a, { limit: 1 })).keys).toEqual(['only-a', 's/a1', 's/both']);
      expect((await listAll(h.app, b, { limit: 1 })).keys).toEqual(['s/b1', 's/b2', 's/both']);
      const fresh = await makeTenant(h);
      expect(await page(h.app, fresh, { count: true })).toEqual({
        items: [],
        cursor: null,
        list_complete: true,
        count: 0,
      });
    });

    it('needs the read scope and a credential', async () => {
      const t = await makeTenant(h);
      await writeKeys(t, ['r/1']);
      const now = h.clock.nowSeconds();
      const readOnly = h.tokens.issue({ tenantId: t.id, scopes: ['read'], tokenVersion: 0 }, now).token;
      const writeOnly = h.tokens.issue({ tenantId: t.id, scopes: ['write'], tokenVersion: 0 }, now).token;
      const res = await request(h.app).get('/api/objects').set('Authorization', `Bearer ${readOnly}`).expect(200);
      expect(res.body.items.map((i: ListedItem) => i.key)).toEqual(['r/1']);
      expectError(
        await request(h.app).get('/api/objects').set('Authorization', `Bearer ${writeOnly}`),
        403,
        'INSUFFICIENT_SCOPE',
      );
      expectError(await request(h.app).get('/api/objects'), 401, 'UNAUTHORIZED');
    });

    it('refuses parameters of the wrong type', async () => {
      const t = await makeTenant(h);
      expectError(await listRequest(h.app, t, { values: 'maybe' }), 400, 'VALIDATION_FAILED', 'values');
      expectError(await listRequest(h.app, t, { count: 'yes' }), 400, 'VALIDATION_FAILED', 'count');
      expectError(await listRequest(h.app, t, { prefix: 'p'.repeat(2049) }), 400, 'VALIDATION_FAILED', 'prefix');
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

    it('gives every key that exists for the whole listing exactly once while a storm writes and deletes others', async () => {
      const t = await makeTenant(h, 64 * MIB);
      const other = await makeTenant(h, 64 * MIB);
      const stable = Array.from({ length: 150 }, (_, i) => `p/${String(i * 10).padStart(5, '0')}`);
      await writeKeys(t, stable);
      await writeKeys(t, ['o', 'p', 'p0', 'q/1']); // outside the prefix
      const kv = api(server.url, t);
      const rand = prng(20261210);
      // Storm keys fall between, before and after the stable ones, so they shift every page boundary.
      const stormKey = (): string =>
        `p/${String(Math.floor(rand() * 1510)).padStart(5, '0')}${rand() < 0.5 ? 'x' : ''}`;
      const isStable = new Set(stable);
      const written = new Set<string>();
      const statuses: number[] = [];
      const stormOp = async (): Promise<void> => {
        const r = rand();
        let key = stormKey();
        while (isStable.has(key)) key = stormKey();
        let res;
        if (r < 0.35) {
          written.add(key);
          res = await kv.put(key, valueOfSize(2 + Math.floor(rand() * 200)));
        } else if (r < 0.55) {
          const keys = [key, `${key}a`, `${key}b`];
          keys.forEach((k) => written.add(k));
          res = await kv.batch(keys.map((k) => ({ key: k, value: k })));
        } else if (r < 0.75) {
          res = await request(server.url).delete(objectPath(key)).set(t.auth);
        } else if (r < 0.85) {
          res = await request(server.url)
            .post('/api/batch/delete')
            .set(t.auth)
            .send({ keys: [key, `${key}a`, `${key}b`] });
        } else if (r < 0.95) {
          // Overwriting a stable key keeps it existing: it must still be given exactly once.
          res = await kv.put(stable[Math.floor(rand() * stable.length)], { overwritten: rand() });
        } else {
          res = await api(server.url, other).put(key, 'another tenant');
        }
        statuses.push(res.status);
      };

      const pages: Page[] = [];
      let cursor: string | undefined;
      for (;;) {
        // Each page is fetched while ten writes run, and the writes land between pages too.
        const [p] = await Promise.all([
          page(server.url, t, { prefix: 'p/', limit: 7, cursor }),
          ...Array.from({ length: 10 }, stormOp),
        ]);
        pages.push(p);
        if (p.list_complete) break;
        cursor = p.cursor as string;
        expect(pages.length).toBeLessThan(200);
      }
      const listed = pages.flatMap((p) => p.items.map((i) => i.key));
      expect(listed.filter((k, i) => listed.indexOf(k) !== i)).toEqual([]);
      expect(listed.filter((k) => isStable.has(k))).toEqual(stable);
      expect(listed.every((k) => k.startsWith('p/') && (isStable.has(k) || written.has(k)))).toBe(true);
      // Keyset paging: strictly ascending across every page.
      expect(sortedByBytes(listed)).toEqual(listed);
      expect(pages.every((p) => p.items.length > 0 && p.items.length <= 7)).toBe(true);

      // The storm ran and succeeded: it wrote and deleted, and nothing failed.
      expect(statuses.length).toBeGreaterThanOrEqual(200);
      expect(statuses.filter((s) => ![200, 201, 204].includes(s))).toEqual([]);
      expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(50);
      expect(statuses.filter((s) => s === 200 || s === 204).length).toBeGreaterThan(20);
      const final = await listAll(h.app, t, { prefix: 'p/', limit: 1000 });
      expect(final.keys.filter((k) => isStable.has(k))).toEqual(stable);
      expect(final.keys.length).toBeGreaterThan(stable.length);
    });
  });
});

describeTargets(
  'listing values larger than a page',
  (h) => {
    it('gives a value over 4 MiB alone on its page rather than an empty page', async () => {
      expect(h.config.maxBatchItemBytes).toBe(5 * MIB);
      const t = await makeTenant(h, 16 * MIB);
      await api(h, t)
        .batch([
          { key: 'big/1', value: 'a' },
          { key: 'big/3', value: 'c' },
        ])
        .expect(201);
      await api(h, t)
        .batch([{ key: 'big/2', value: valueOfSize(4 * MIB + 10) }])
        .expect(201);
      const { pages, keys } = await listAll(h.app, t, { prefix: 'big/', values: true });
      expect(keys).toEqual(['big/1', 'big/2', 'big/3']);
      expect(pages.map((p) => p.items.map((i) => i.key))).toEqual([['big/1'], ['big/2'], ['big/3']]);
      expect(pages[1].items[0]).toMatchObject({ size: 4 * MIB + 10 });
      expect((pages[1].items[0].value as string).length).toBe(4 * MIB + 8);
    });
  },
  { env: { MAX_BATCH_BYTES: String(5 * MIB) } },
);
