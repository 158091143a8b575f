import type { WriteStrategy } from '../../../src/features/objects';
import {
  api,
  expectError,
  harness,
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
import { targets } from '../../support/targets';

/**
 * Revision history (issue 11): a tenant's history_depth, the versions an overwrite or delete keeps (tombstones
 * included), reading them, clearing them, lowering the depth, their bytes in the quota, and eviction of the oldest
 * before a write is refused; through every write strategy the database has (on MySQL the procedures hand a tenant
 * with history to the pipeline, and these cases pin that).
 */
const cases = targets().flatMap((target) =>
  (target === 'mysql' ? ['procedure', 'transaction'] : ['transaction']).map((s) => [target, s] as const),
);

const ADMIN_KEY = 'admin-key-history-aaaaaaaaaaaaaaaaaaaa';
const asAdmin = { Authorization: `Bearer ${ADMIN_KEY}` };
const CHUNK_ROWS = 3;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

interface HistoryItem {
  version: number;
  value: unknown;
  metadata?: unknown;
  ttl: number;
  deleted: boolean;
  written_at: string | null;
}

/** What the database holds for a tenant, recomputed from the rows, next to its ledger. */
async function storedWithHistory(h: Harness, tenantId: number) {
  const len = h.db.dialect.byteLength;
  const [row] = await h.db.sql.select(
    `SELECT t.utilised AS utilised, t.history_bytes AS history_bytes, t.object_count AS object_count,
       t.provisioned AS provisioned, t.revision AS revision,
       (SELECT COALESCE(SUM(${len('o.value')} + COALESCE(${len('o.metadata')}, 0)), 0)
          FROM objects o WHERE o.tenant_id = t.id) AS live_bytes,
       (SELECT COALESCE(SUM(o.size), 0) FROM objects o WHERE o.tenant_id = t.id) AS live_sizes,
       (SELECT COUNT(*) FROM objects o WHERE o.tenant_id = t.id) AS live_rows,
       (SELECT COALESCE(SUM(COALESCE(${len('x.value')}, 0) + COALESCE(${len('x.metadata')}, 0)), 0)
          FROM object_history x WHERE x.tenant_id = t.id) AS history_stored,
       (SELECT COALESCE(SUM(x.size), 0) FROM object_history x WHERE x.tenant_id = t.id) AS history_sizes,
       (SELECT COUNT(*) FROM object_history x WHERE x.tenant_id = t.id) AS history_rows
     FROM tenants t WHERE t.id = ?`,
    [tenantId],
  );
  return {
    utilised: Number(row.utilised),
    historyBytes: Number(row.history_bytes),
    objectCount: Number(row.object_count),
    provisioned: Number(row.provisioned),
    revision: Number(row.revision),
    liveBytes: Number(row.live_bytes),
    liveSizes: Number(row.live_sizes),
    liveRows: Number(row.live_rows),
    historyStored: Number(row.history_stored),
    historySizes: Number(row.history_sizes),
    historyRows: Number(row.history_rows),
  };
}

/**
 * The ledger equals what is stored: utilised = the live objects' bytes + the kept versions' bytes, history_bytes
 * = the kept versions' bytes, object_count = the live rows; every row's size is its value's and metadata's bytes.
 */
async function expectLedgerWithHistory(h: Harness, tenantId: number) {
  const s = await storedWithHistory(h, tenantId);
  expect({
    utilised: s.utilised,
    historyBytes: s.historyBytes,
    objectCount: s.objectCount,
    liveSizes: s.liveSizes,
    historySizes: s.historySizes,
  }).toEqual({
    utilised: s.liveBytes + s.historyStored,
    historyBytes: s.historyStored,
    objectCount: s.liveRows,
    liveSizes: s.liveBytes,
    historySizes: s.historyStored,
  });
  return s;
}

/** The kept rows of a tenant, as (key, version, size, deleted), in order. */
async function keptRows(h: Harness, tenantId: number) {
  const rows = await h.db
    .knex('object_history')
    .select('k', 'version', 'size', 'deleted')
    .where('tenant_id', tenantId)
    .orderBy(['version', 'k']);
  return rows.map((r: Record<string, unknown>) => ({
    key: h.db.dialect.keyText(r.k),
    version: Number(r.version),
    size: Number(r.size),
    deleted: Boolean(r.deleted),
  }));
}

describe.each(cases)('history on %s through the %s strategy', (target, strategy) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(target, {
      writeStrategy: strategy as WriteStrategy['name'],
      env: { ADMIN_API_KEYS: ADMIN_KEY, PURGE_CHUNK_ROWS: String(CHUNK_ROWS) },
    });
  });
  afterAll(() => h.close());
  beforeEach(() => h.clock.reset());

  const history = (t: TestTenant, key: string, query = '') =>
    request(h.app)
      .get(`${objectPath(key)}/history${query}`)
      .set(t.auth);
  const items = async (t: TestTenant, key: string): Promise<HistoryItem[]> =>
    (await history(t, key, '?limit=100').expect(200)).body.items as HistoryItem[];
  const versions = async (t: TestTenant, key: string): Promise<number[]> => (await items(t, key)).map((i) => i.version);
  const atVersion = (t: TestTenant, key: string, version: number) =>
    request(h.app)
      .get(`${objectPath(key)}?version=${version}`)
      .set(t.auth);
  const clear = (t: TestTenant, key: string) =>
    request(h.app)
      .delete(`${objectPath(key)}/history`)
      .set(t.auth);
  const setDepth = (t: TestTenant, depth: number) =>
    request(h.app).patch(`/api/admin/tenants/${t.id}`).set(asAdmin).send({ history_depth: depth }).expect(200);
  const putWith = (t: TestTenant, body: Record<string, unknown>) =>
    request(h.app).post('/api/object').set(t.auth).send(body);

  describe('depth 0', () => {
    it('lists only the live version, keeps nothing, and reads only the live version by number', async () => {
      const t = await makeTenant(h, 1000, 0);
      const kv = api(h, t);
      const at = h.clock.freeze();
      await kv.put('a', 'one').expect(201);
      await kv.put('a', 'two').expect(201);
      const page = await history(t, 'a').expect(200);
      expect(page.body).toEqual({
        items: [
          {
            version: 2,
            value: 'two',
            ttl: 0,
            deleted: false,
            written_at: new Date(at * 1000).toISOString().replace('.000', ''),
          },
        ],
        cursor: null,
      });
      expectError(await atVersion(t, 'a', 1), 404, 'OBJECT_NOT_FOUND');
      const live = await atVersion(t, 'a', 2).expect(200);
      expect(live.body).toEqual({ key: 'a', value: 'two', ttl: 0, expires_in: 0, version: 2 });
      expect(live.headers.etag).toBe('"2"');
      await kv.del('a').expect(204);
      expectError(await history(t, 'a'), 404, 'OBJECT_NOT_FOUND');
      expect((await kv.quota().expect(200)).body).toEqual({
        provisioned: 1000,
        utilised: 0,
        objects: 0,
        revision: 3,
        history_bytes: 0,
      });
      expect(await keptRows(h, t.id)).toEqual([]);
      await expectLedgerWithHistory(h, t.id);
    });
  });

  describe('depth N', () => {
    it('keeps the N previous versions with their value, metadata, ttl and time, newest first after the live one', async () => {
      const t = await makeTenant(h, 100_000, 3);
      const start = h.clock.freeze();
      const ttl = start + 3600;
      const written: { value: unknown; metadata?: Record<string, unknown>; ttl: number; at: number }[] = [];
      for (let i = 1; i <= 5; i++) {
        h.clock.offsetSeconds = i * 10;
        const body: Record<string, unknown> = { key: 'doc', value: { n: i, s: 'v'.repeat(i) } };
        if (i % 2 === 1) body.metadata = { rev: i };
        if (i === 2) body.ttl = ttl;
        const res = await putWith(t, body).expect(201);
        expect(res.headers.etag).toBe(`"${i}"`);
        written.push({
          value: body.value,
          ...(body.metadata === undefined ? {} : { metadata: body.metadata as Record<string, unknown> }),
          ttl: i === 2 ? ttl : 0,
          at: (start + i * 10) * 1000,
        });
      }
      const expected = (v: number): HistoryItem => {
        const w = written[v - 1];
        return {
          version: v,
          value: w.value,
          ...(w.metadata === undefined ? {} : { metadata: w.metadata }),
          ttl: w.ttl,
          deleted: false,
          written_at: new Date(w.at).toISOString().replace('.000', ''),
        };
      };
      const all = await items(t, 'doc');
      expect(all).toEqual([5, 4, 3, 2].map(expected));
      for (const item of all) expect(item.written_at).toMatch(RFC3339);

      // Pages of 2: the cursor leads to the rest, and the last page has none.
      const first = await history(t, 'doc', '?limit=2').expect(200);
      expect(first.body.items).toEqual([5, 4].map(expected));
      expect(typeof first.body.cursor).toBe('string');
      const second = await history(t, 'doc', `?limit=2&before=${encodeURIComponent(first.body.cursor)}`).expect(200);
      expect(second.body).toEqual({ items: [3, 2].map(expected), cursor: null });
      const ones: number[] = [];
      let cursor: string | null = null;
      do {
        const query: string = cursor === null ? '?limit=1' : `?limit=1&before=${encodeURIComponent(cursor)}`;
        const page = await history(t, 'doc', query).expect(200);
        ones.push(...(page.body.items as HistoryItem[]).map((i) => i.version));
        cursor = page.body.cursor as string | null;
      } while (cursor !== null);
      expect(ones).toEqual([5, 4, 3, 2]);
      // A cursor is the key's own, and sealed.
      await putWith(t, { key: 'other', value: 1 }).expect(201);
      await putWith(t, { key: 'other', value: 2 }).expect(201);
      expectError(
        await history(t, 'other', `?limit=1&before=${encodeURIComponent(first.body.cursor)}`),
        400,
        'INVALID_CURSOR',
      );
      expectError(await history(t, 'doc', '?before=not-a-cursor'), 400, 'INVALID_CURSOR');
      expectError(await history(t, 'doc', '?limit=0'), 400, 'VALIDATION_FAILED', 'limit');

      // ?version=N reads a kept version (its ETag its version), the live one, and 404 for one trimmed away.
      const v2 = await atVersion(t, 'doc', 2).expect(200);
      expect(v2.headers.etag).toBe('"2"');
      expect(v2.body).toEqual({
        key: 'doc',
        value: written[1].value,
        ttl,
        expires_in: ttl - h.clock.nowSeconds(),
        version: 2,
      });
      const v3 = await atVersion(t, 'doc', 3).expect(200);
      expect(v3.body).toEqual({
        key: 'doc',
        value: written[2].value,
        metadata: { rev: 3 },
        ttl: 0,
        expires_in: 0,
        version: 3,
      });
      expect((await atVersion(t, 'doc', 5).expect(200)).body).toMatchObject({ value: written[4].value, version: 5 });
      expectError(await atVersion(t, 'doc', 1), 404, 'OBJECT_NOT_FOUND');
      expectError(await atVersion(t, 'doc', 6), 404, 'OBJECT_NOT_FOUND');
      expect((await atVersion(t, 'doc', 2).set('If-None-Match', '"2"')).status).toBe(304);

      // The kept bytes are in the quota, part of utilised, and the ledger is exact.
      const size = (v: number): number =>
        jsonSize(written[v - 1].value) + (written[v - 1].metadata ? jsonSize(written[v - 1].metadata) : 0);
      const historyBytes = size(2) + size(3) + size(4) + jsonSize(1);
      const quota = (await api(h, t).quota().expect(200)).body;
      expect(quota).toEqual({
        provisioned: 100_000,
        utilised: size(5) + jsonSize(2) + historyBytes,
        objects: 2,
        revision: 7,
        history_bytes: historyBytes,
      });
      const s = await expectLedgerWithHistory(h, t.id);
      expect(s).toMatchObject({ utilised: quota.utilised, historyBytes, historyRows: 4 });
    });

    it('keeps a batch’s replaced versions, each under its own key, and trims each key to the depth', async () => {
      const t = await makeTenant(h, 100_000, 2);
      const kv = api(h, t);
      for (let round = 1; round <= 4; round++) {
        await kv
          .batch([
            { key: 'x', value: `x${round}` },
            { key: 'y', value: `y${round}` },
          ])
          .expect(201);
      }
      expect(await versions(t, 'x')).toEqual([4, 3, 2]);
      expect((await items(t, 'y')).map((i) => i.value)).toEqual(['y4', 'y3', 'y2']);
      expect(await keptRows(h, t.id)).toEqual([
        { key: 'x', version: 2, size: 4, deleted: false },
        { key: 'y', version: 2, size: 4, deleted: false },
        { key: 'x', version: 3, size: 4, deleted: false },
        { key: 'y', version: 3, size: 4, deleted: false },
      ]);
      await expectLedgerWithHistory(h, t.id);
    });

    it('does not keep an expired version', async () => {
      const t = await makeTenant(h, 100_000, 3);
      await writeExpiredInDb(h, (ttl) => api(h, t).put('e', 'old', ttl).expect(201));
      await api(h, t).put('e', 'new').expect(201);
      expect(await versions(t, 'e')).toEqual([2]);
      expect(await keptRows(h, t.id)).toEqual([]);
      await expectLedgerWithHistory(h, t.id);
    });
  });

  describe('deletes with history', () => {
    it('keep the replaced version and add a tombstone listed first; the history stays readable', async () => {
      const t = await makeTenant(h, 100_000, 2);
      const kv = api(h, t);
      await putWith(t, { key: 'k', value: 'one', metadata: { m: 1 } }).expect(201);
      await kv.put('k', 'two').expect(201);
      const before = await storedWithHistory(h, t.id);
      await kv.del('k').expect(204);
      expectError(await kv.get('k'), 404, 'OBJECT_NOT_FOUND');
      const list = await items(t, 'k');
      expect(list.map((i) => [i.version, i.value, i.deleted])).toEqual([
        [3, null, true],
        [2, 'two', false],
        [1, 'one', false],
      ]);
      expect(list[0]).toEqual({
        version: 3,
        value: null,
        ttl: 0,
        deleted: true,
        written_at: expect.stringMatching(RFC3339),
      });
      expect(list[2].metadata).toEqual({ m: 1 });
      // The tombstone is its own version, 0 bytes; not readable as a value.
      expectError(await atVersion(t, 'k', 3), 404, 'OBJECT_NOT_FOUND');
      expect((await atVersion(t, 'k', 2).expect(200)).body).toMatchObject({ key: 'k', value: 'two', version: 2 });
      // The delete moved the bytes into history rather than freeing them.
      const after = await expectLedgerWithHistory(h, t.id);
      expect(after.utilised).toBe(before.utilised);
      expect(after).toMatchObject({ objectCount: 0, historyBytes: before.utilised, revision: 3 });
      expect((await keptRows(h, t.id)).find((r) => r.version === 3)).toEqual({
        key: 'k',
        version: 3,
        size: 0,
        deleted: true,
      });

      // Written again: the deleted key's history goes on, and ages out of the depth (tombstones with it).
      await kv.put('k', 'four').expect(201);
      expect(await versions(t, 'k')).toEqual([4, 3, 2, 1]);
      await kv.put('k', 'five').expect(201);
      expect(await versions(t, 'k')).toEqual([5, 4, 3, 2]);
      await kv.put('k', 'six').expect(201);
      expect(await versions(t, 'k')).toEqual([6, 5, 4]);
      await expectLedgerWithHistory(h, t.id);
    });

    it('a batch delete and a prefix delete keep every key’s version and tombstone; a delete of nothing adds none', async () => {
      const t = await makeTenant(h, 100_000, 1);
      const kv = api(h, t);
      await kv.batch(Array.from({ length: 7 }, (_, i) => ({ key: `p/${i}`, value: i }))).expect(201);
      await kv.put('q', 'q').expect(201);
      const deleted = await request(h.app)
        .post('/api/batch/delete')
        .set(t.auth)
        .send({ keys: ['q', 'nothing'] })
        .expect(200);
      expect(deleted.body).toEqual({ deleted: 1 });
      expect((await items(t, 'q')).map((i) => [i.version, i.deleted])).toEqual([
        [3, true],
        [2, false],
      ]);
      const prefix = await request(h.app).delete('/api/objects?prefix=p/').set(t.auth).expect(200);
      expect(prefix.body).toEqual({ deleted: 7 });
      // Chunks of CHUNK_ROWS keys, one revision each.
      const tombstones = (await keptRows(h, t.id)).filter((r) => r.deleted && r.key.startsWith('p/'));
      expect(tombstones.map((r) => r.version)).toEqual([4, 4, 4, 5, 5, 5, 6]);
      for (let i = 0; i < 7; i++) {
        const list = await items(t, `p/${i}`);
        expect(list.map((x) => [x.deleted, x.value])).toEqual([
          [true, null],
          [false, i],
        ]);
      }
      await kv.del('q').expect(204);
      expect(await versions(t, 'q')).toEqual([3, 2]);
      const s = await expectLedgerWithHistory(h, t.id);
      expect(s).toMatchObject({ objectCount: 0, utilised: s.historyBytes, revision: 6 });
    });

    it('answers 404 for a key with neither a live version nor kept ones', async () => {
      const t = await makeTenant(h, 1000, 3);
      expectError(await history(t, 'never'), 404, 'OBJECT_NOT_FOUND');
      expectError(await atVersion(t, 'never', 1), 404, 'OBJECT_NOT_FOUND');
      await writeExpiredInDb(h, (ttl) => api(h, t).put('gone', 'x', ttl).expect(201));
      expectError(await history(t, 'gone'), 404, 'OBJECT_NOT_FOUND');
      // A key that ends in /history is sent with that slash encoded.
      await api(h, t).put('a/history', 1).expect(201);
      const page = await request(h.app).get('/api/object/a%2Fhistory/history').set(t.auth).expect(200);
      expect(page.body.items.map((i: HistoryItem) => i.value)).toEqual([1]);
    });
  });

  describe('DELETE history', () => {
    it('forgets a key’s kept versions and frees exactly their bytes; the live version and other keys stay', async () => {
      const t = await makeTenant(h, 100_000, 5);
      const kv = api(h, t);
      for (let i = 0; i < 4; i++) await kv.put('a', valueOfSize(10 + i)).expect(201);
      for (let i = 0; i < 3; i++) await kv.put('b', valueOfSize(20 + i)).expect(201);
      const before = await expectLedgerWithHistory(h, t.id);
      expect(before.historyBytes).toBe(10 + 11 + 12 + 20 + 21);
      await clear(t, 'a').expect(204);
      expect(await versions(t, 'a')).toEqual([4]);
      expect(await versions(t, 'b')).toEqual([7, 6, 5]);
      const after = await expectLedgerWithHistory(h, t.id);
      expect(after).toMatchObject({
        historyBytes: 20 + 21,
        utilised: before.utilised - (10 + 11 + 12),
        objectCount: 2,
      });
      // Nothing to forget is no error and changes nothing.
      await clear(t, 'a').expect(204);
      await clear(t, 'never').expect(204);
      expect((await storedWithHistory(h, t.id)).utilised).toBe(after.utilised);
      // A deleted key's history, cleared: nothing is left of it.
      await kv.del('b').expect(204);
      expect((await items(t, 'b')).length).toBe(4);
      await clear(t, 'b').expect(204);
      expectError(await history(t, 'b'), 404, 'OBJECT_NOT_FOUND');
      expectError(await atVersion(t, 'b', 6), 404, 'OBJECT_NOT_FOUND');
      const quota = (await kv.quota().expect(200)).body;
      expect(quota).toMatchObject({ utilised: 13, history_bytes: 0, objects: 1 });
      await expectLedgerWithHistory(h, t.id);
    });
  });

  describe('the depth set by the operator', () => {
    it('takes history_depth at creation and by PATCH; lowering it trims each key when it is next written', async () => {
      const created = await request(h.app)
        .post('/api/admin/tenants')
        .set(asAdmin)
        .send({ user_name: `hist-${Date.now()}-${strategy}`, provisioned_capacity: 100_000, history_depth: 3 })
        .expect(201);
      expect(created.body).toMatchObject({ history_depth: 3, history_bytes: 0 });
      const t = await makeTenant(h, 100_000, 3);
      const kv = api(h, t);
      for (let i = 1; i <= 4; i++) await kv.put('a', valueOfSize(10 * i)).expect(201);
      for (let i = 1; i <= 4; i++) await kv.put('b', valueOfSize(10 * i)).expect(201);
      expect(await versions(t, 'a')).toEqual([4, 3, 2, 1]);
      const patched = await setDepth(t, 1);
      expect(patched.body).toMatchObject({ id: t.id, history_depth: 1, history_bytes: 2 * (10 + 20 + 30) });

      // a, written again, keeps only its newest previous version: exactly the bytes of the others are freed.
      await kv.put('a', valueOfSize(50)).expect(201);
      expect(await versions(t, 'a')).toEqual([9, 4]);
      expect((await storedWithHistory(h, t.id)).historyBytes).toBe(40 + (10 + 20 + 30));
      // b, not written since, keeps what it had until it is.
      expect(await versions(t, 'b')).toEqual([8, 7, 6, 5]);
      await kv.put('b', valueOfSize(60)).expect(201);
      expect(await versions(t, 'b')).toEqual([10, 8]);
      const s = await expectLedgerWithHistory(h, t.id);
      expect(s).toMatchObject({ historyBytes: 40 + 40, utilised: 50 + 60 + 80 });

      // Raised again: versions are kept again from the next write.
      await setDepth(t, 2);
      await kv.put('a', valueOfSize(70)).expect(201);
      expect(await versions(t, 'a')).toEqual([11, 9, 4]);
      await expectLedgerWithHistory(h, t.id);
      const got = await request(h.app).get(`/api/admin/tenants/${t.id}`).set(asAdmin).expect(200);
      expect(got.body).toMatchObject({
        history_depth: 2,
        history_bytes: (await storedWithHistory(h, t.id)).historyBytes,
      });
    });

    it('turned off (0): a key written or deleted afterwards drops every version it kept', async () => {
      const t = await makeTenant(h, 100_000, 2);
      const kv = api(h, t);
      for (let i = 1; i <= 3; i++) await kv.put('a', valueOfSize(10 * i)).expect(201);
      for (let i = 1; i <= 3; i++) await kv.put('b', valueOfSize(10 * i)).expect(201);
      await setDepth(t, 0);
      await kv.put('a', valueOfSize(5)).expect(201);
      expect(await versions(t, 'a')).toEqual([7]);
      await kv.del('b').expect(204);
      expectError(await history(t, 'b'), 404, 'OBJECT_NOT_FOUND');
      const s = await expectLedgerWithHistory(h, t.id);
      expect(s).toMatchObject({ historyBytes: 0, historyRows: 0, utilised: 5, objectCount: 1 });
    });
  });

  describe('eviction before refusal', () => {
    it('evicts the tenant’s oldest kept versions, whatever their key, exactly as much as the write needs', async () => {
      const t = await makeTenant(h, 100, 5);
      const kv = api(h, t);
      await kv.put('a', valueOfSize(30)).expect(201); // 1
      await kv.put('a', valueOfSize(30)).expect(201); // 2: keeps a@1 (30)
      await kv.put('b', valueOfSize(20)).expect(201); // 3
      await kv.put('b', valueOfSize(20)).expect(201); // 4: keeps b@3 (20)
      expect(await expectLedgerWithHistory(h, t.id)).toMatchObject({ utilised: 100, historyBytes: 50 });

      // c needs 25: a@1 (the oldest) goes, b@3 stays.
      await kv.put('c', valueOfSize(25)).expect(201);
      expect(await keptRows(h, t.id)).toEqual([{ key: 'b', version: 3, size: 20, deleted: false }]);
      expect(await versions(t, 'a')).toEqual([2]);
      expectError(await atVersion(t, 'a', 1), 404, 'OBJECT_NOT_FOUND');
      expect(await expectLedgerWithHistory(h, t.id)).toMatchObject({ utilised: 95, historyBytes: 20, revision: 5 });

      // A write that would not fit even with no history at all is refused, and evicts nothing.
      const rows = await keptRows(h, t.id);
      expectError(await kv.put('d', valueOfSize(30)), 403, 'QUOTA_EXCEEDED');
      expectError(await kv.batch([{ key: 'd', value: valueOfSize(26) }]), 403, 'QUOTA_EXCEEDED');
      expect(await keptRows(h, t.id)).toEqual(rows);
      expectError(await kv.get('d'), 404, 'OBJECT_NOT_FOUND');
      expect(await expectLedgerWithHistory(h, t.id)).toMatchObject({ utilised: 95, historyBytes: 20, revision: 5 });

      // An overwrite that fits only once every kept version is gone, its own replaced one included.
      await kv.put('a', valueOfSize(55)).expect(201); // live 20 + 25 + 55 = 100
      expect(await keptRows(h, t.id)).toEqual([]);
      expect(await versions(t, 'a')).toEqual([6]);
      const s = await expectLedgerWithHistory(h, t.id);
      expect(s).toMatchObject({ utilised: 100, historyBytes: 0, objectCount: 3, revision: 6 });
      expect((await kv.quota().expect(200)).body).toEqual({
        provisioned: 100,
        utilised: 100,
        objects: 3,
        revision: 6,
        history_bytes: 0,
      });
    });

    it('a batch evicts too, lowest version first, and keeps the newer versions it has room for', async () => {
      const t = await makeTenant(h, 200, 5);
      const kv = api(h, t);
      await kv
        .batch([
          { key: 'x', value: valueOfSize(40) },
          { key: 'y', value: valueOfSize(40) },
        ])
        .expect(201); // 1
      await kv
        .batch([
          { key: 'x', value: valueOfSize(30) },
          { key: 'y', value: valueOfSize(30) },
        ])
        .expect(201); // 2
      await kv.put('x', valueOfSize(10)).expect(201); // 3: keeps x@2
      // live 10 + 30 = 40, history x@1 40, y@1 40, x@2 30 = 110: 150 in all.
      expect(await expectLedgerWithHistory(h, t.id)).toMatchObject({ utilised: 150, historyBytes: 110 });
      // + z 60, + y 35 over y@2 (kept, 30): needs 150 + 60 + 35 = 245 > 200: evict 45 — x@1 (40), then y@1 (40).
      await kv
        .batch([
          { key: 'z', value: valueOfSize(60) },
          { key: 'y', value: valueOfSize(35) },
        ])
        .expect(201);
      expect(await keptRows(h, t.id)).toEqual([
        { key: 'x', version: 2, size: 30, deleted: false },
        { key: 'y', version: 2, size: 30, deleted: false },
      ]);
      expect(await expectLedgerWithHistory(h, t.id)).toMatchObject({ utilised: 165, historyBytes: 60, revision: 4 });
    });

    it('reclaims expired objects first, and evicts history only if that is not enough', async () => {
      const t = await makeTenant(h, 100, 5);
      const kv = api(h, t);
      await kv.put('a', valueOfSize(30)).expect(201);
      await kv.put('a', valueOfSize(30)).expect(201); // keeps a@1 (30)
      await writeExpiredInDb(h, (ttl) => kv.put('e', valueOfSize(30), ttl).expect(201));
      expect(await expectLedgerWithHistory(h, t.id)).toMatchObject({ utilised: 90, historyBytes: 30 });
      await kv.put('c', valueOfSize(40)).expect(201);
      expect(await keptRows(h, t.id)).toEqual([{ key: 'a', version: 1, size: 30, deleted: false }]);
      expect(await expectLedgerWithHistory(h, t.id)).toMatchObject({ utilised: 100, historyBytes: 30, objectCount: 2 });
      // Now only history can make room.
      await kv.put('f', valueOfSize(30)).expect(201);
      expect(await keptRows(h, t.id)).toEqual([]);
      expect(await expectLedgerWithHistory(h, t.id)).toMatchObject({ utilised: 100, historyBytes: 0, objectCount: 3 });
    });
  });

  describe('the ledger under a storm', () => {
    let server: { url: string; close(): Promise<void> };
    beforeAll(async () => {
      server = await listen(h);
    });
    afterAll(async () => {
      await server.close();
    });

    it('equals the live bytes plus the kept bytes, recomputed from the rows, after concurrent writes of every form', async () => {
      const TENANTS = 6;
      const WORKERS = 4;
      const OPS = 40;
      const provisioned = 3000;
      const depths = [1, 2, 3, 5, 3, 2];
      const tenants = await Promise.all(depths.slice(0, TENANTS).map((d) => makeTenant(h, provisioned, d)));
      const KEYS = [
        'k',
        'j',
        ...Array.from({ length: 8 }, (_, i) => `p/${i}`),
        ...Array.from({ length: 4 }, (_, i) => `q/${i}`),
      ];
      const statuses: Record<string, number> = {};
      const worker = async (ti: number, w: number): Promise<void> => {
        const rand = prng(9100 + ti * 10 + w);
        const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
        const t = tenants[ti];
        for (let i = 0; i < OPS; i++) {
          const r = rand();
          let res: { status: number };
          let kind: string;
          if (r < 0.35) {
            kind = 'put';
            const body: Record<string, unknown> = { key: pick(KEYS), value: valueOfSize(2 + Math.floor(rand() * 400)) };
            if (rand() < 0.3) body.metadata = { m: 'é'.repeat(Math.floor(rand() * 30)) };
            res = await request(server.url).post('/api/object').set(t.auth).send(body);
          } else if (r < 0.55) {
            kind = 'batch';
            const keys = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(KEYS)))];
            res = await request(server.url)
              .post('/api/batch/object')
              .set(t.auth)
              .send(keys.map((key) => ({ key, value: valueOfSize(2 + Math.floor(rand() * 300)) })));
          } else if (r < 0.7) {
            kind = 'delete';
            res = await request(server.url)
              .delete(objectPath(pick(KEYS)))
              .set(t.auth);
          } else if (r < 0.8) {
            kind = 'batchDelete';
            const keys = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(KEYS)))];
            res = await request(server.url).post('/api/batch/delete').set(t.auth).send({ keys });
          } else if (r < 0.87) {
            kind = 'prefixDelete';
            res = await request(server.url)
              .delete(`/api/objects?prefix=${pick(['p/', 'q/', 'p/1'])}`)
              .set(t.auth);
          } else if (r < 0.93) {
            kind = 'clearHistory';
            res = await request(server.url)
              .delete(`${objectPath(pick(KEYS))}/history`)
              .set(t.auth);
          } else {
            kind = 'history';
            res = await request(server.url)
              .get(`${objectPath(pick(KEYS))}/history?limit=100`)
              .set(t.auth);
          }
          const label = `${kind} ${res.status}`;
          statuses[label] = (statuses[label] ?? 0) + 1;
        }
      };
      await Promise.all(tenants.flatMap((_, ti) => Array.from({ length: WORKERS }, (_, w) => worker(ti, w))));

      // Every answer is one the route may give, and no 5xx.
      const allowed = new Set([
        'put 201',
        'put 403',
        'batch 201',
        'batch 403',
        'delete 204',
        'batchDelete 200',
        'prefixDelete 200',
        'clearHistory 204',
        'history 200',
        'history 404',
      ]);
      expect(Object.keys(statuses).filter((label) => !allowed.has(label))).toEqual([]);
      // The storm did what it says: many writes, some that needed room made by eviction.
      expect((statuses['put 201'] ?? 0) + (statuses['batch 201'] ?? 0)).toBeGreaterThan(150);
      expect(statuses['prefixDelete 200']).toBeGreaterThan(0);

      let evicted = 0;
      for (const [ti, t] of tenants.entries()) {
        const s = await expectLedgerWithHistory(h, t.id);
        expect(s.utilised).toBeLessThanOrEqual(provisioned);
        const quota = (await api(h, t).quota().expect(200)).body;
        expect(quota).toEqual({
          provisioned,
          utilised: s.utilised,
          objects: s.objectCount,
          revision: s.revision,
          history_bytes: s.historyBytes,
        });
        // Each key keeps at most `depth` versions, all older than its live one; a tombstone weighs nothing.
        const rows = await keptRows(h, t.id);
        const live = new Map(
          (await h.db.knex('objects').select('k', 'version').where('tenant_id', t.id)).map(
            (r: Record<string, unknown>) => [h.db.dialect.keyText(r.k), Number(r.version)] as const,
          ),
        );
        for (const key of KEYS) {
          const kept = rows.filter((r) => r.key === key);
          expect(kept.filter((r) => !r.deleted).length).toBeLessThanOrEqual(depths[ti]);
          for (const r of kept) {
            expect(r.version).toBeLessThanOrEqual(s.revision);
            if (live.has(key)) expect(r.version).toBeLessThan(live.get(key) as number);
            if (r.deleted) expect(r.size).toBe(0);
          }
        }
        if (s.utilised + 400 > provisioned) evicted++;
      }
      // At least some tenants ran at their quota, where history had to make room.
      expect(evicted + (statuses['put 403'] ?? 0) + (statuses['batch 403'] ?? 0)).toBeGreaterThan(0);
    });
  });
});
