import type { WriteStrategy } from '../../../src/features/objects';
import {
  api,
  expectError,
  expectLedgerExact,
  harness,
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
import { targets } from '../../support/targets';

/**
 * Conditional writes (RFC 9110 preconditions), through every write strategy the database has: on MySQL the
 * procedures decide the preconditions in SQL, and these cases pin them to the pipeline's answers.
 */
const cases = targets().flatMap((target) =>
  (target === 'mysql' ? ['procedure', 'transaction'] : ['transaction']).map((s) => [target, s] as const),
);

describe.each(cases)('conditional writes on %s through the %s strategy', (target, strategy) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(target, { writeStrategy: strategy as WriteStrategy['name'] });
  });
  afterAll(() => h.close());
  beforeEach(() => h.clock.reset());

  const putIf = (t: TestTenant, header: string, value: string, key = 'k') =>
    request(h.app)
      .post('/api/object')
      .set(t.auth)
      .set(header.split(': ')[0], header.split(': ')[1])
      .send({ key, value });

  describe('puts', () => {
    it('with If-Match: "<version>", writes only over that version; else 412 with the current one, writing nothing', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('k', 'one').expect(201);
      const ok = await putIf(t, 'If-Match: "1"', 'two').expect(201);
      expect(ok.headers.etag).toBe('"2"');
      const stale = await putIf(t, 'If-Match: "1"', 'three');
      expectError(stale, 412, 'PRECONDITION_FAILED', 'precondition failed');
      expect(stale.body.current_version).toBe(2);
      expect((await api(h, t).get('k').expect(200)).body).toMatchObject({ value: 'two', version: 2 });
      await putIf(t, 'If-Match: "7", "2"', 'four').expect(201);
      expect(await ledger(h, t.id)).toMatchObject({ revision: 3 });
      await expectLedgerExact(h, t.id);
    });

    it('with If-Match: *, writes only over an existing key; current_version null when there is none', async () => {
      const t = await makeTenant(h);
      const none = await putIf(t, 'If-Match: *', 'x');
      expectError(none, 412, 'PRECONDITION_FAILED');
      expect(none.body.current_version).toBeNull();
      expect(await storedKeys(h, t.id)).toEqual([]);
      await api(h, t).put('k', 'one').expect(201);
      await putIf(t, 'If-Match: *', 'two').expect(201);
      expect((await api(h, t).get('k').expect(200)).body.value).toBe('two');
    });

    it('with If-None-Match: *, creates only; an expired object counts as absent and is charged the difference', async () => {
      const t = await makeTenant(h, 1000);
      await putIf(t, 'If-None-Match: *', valueOfSize(10)).expect(201);
      const taken = await putIf(t, 'If-None-Match: *', valueOfSize(20));
      expectError(taken, 412, 'PRECONDITION_FAILED');
      expect(taken.body.current_version).toBe(1);
      await writeExpiredInDb(h, (ttl) => api(h, t).put('old', valueOfSize(300), ttl).expect(201));
      const expiredIfMatch = await putIf(t, 'If-Match: *', valueOfSize(5), 'old');
      expectError(expiredIfMatch, 412, 'PRECONDITION_FAILED');
      expect(expiredIfMatch.body.current_version).toBeNull();
      await putIf(t, 'If-None-Match: *', valueOfSize(100), 'old').expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 110, objectCount: 2 });
    });

    it('checks the precondition before the quota: a failed precondition is 412 even when the write would not fit', async () => {
      const t = await makeTenant(h, 100);
      await api(h, t).put('k', valueOfSize(90)).expect(201);
      expectError(await putIf(t, 'If-Match: "5"', valueOfSize(200)), 412, 'PRECONDITION_FAILED');
      expectError(await putIf(t, 'If-Match: "1"', valueOfSize(200)), 403, 'QUOTA_EXCEEDED');
      expect(await ledger(h, t.id)).toMatchObject({ utilised: 90, revision: 1 });
    });

    it.each([
      ['If-Match: 5', 'If-Match'],
      ['If-Match: W/"5"', 'If-Match'],
      ['If-Match: "x"', 'If-Match'],
      ['If-None-Match: "5"', 'only *'],
    ])('refuses the malformed or unsupported %s with 400 INVALID_PRECONDITION', async (header, message) => {
      const t = await makeTenant(h);
      expectError(await putIf(t, header, 'v'), 400, 'INVALID_PRECONDITION', message);
      expect(await storedKeys(h, t.id)).toEqual([]);
    });

    it('refuses If-Match and If-None-Match together', async () => {
      const t = await makeTenant(h);
      const res = await request(h.app)
        .post('/api/object')
        .set(t.auth)
        .set('If-Match', '*')
        .set('If-None-Match', '*')
        .send({ key: 'k', value: 1 });
      expectError(res, 400, 'INVALID_PRECONDITION', 'not both');
    });
  });

  describe('deletes', () => {
    it('with If-Match, delete only that version; 412 and nothing deleted otherwise', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('k', 'v').expect(201);
      const wrong = await request(h.app).delete('/api/object/k').set(t.auth).set('If-Match', '"9"');
      expectError(wrong, 412, 'PRECONDITION_FAILED');
      expect(wrong.body.current_version).toBe(1);
      await api(h, t).get('k').expect(200);
      await request(h.app).delete('/api/object/k').set(t.auth).set('If-Match', '"1"').expect(204);
      expectError(await api(h, t).get('k'), 404, 'OBJECT_NOT_FOUND');
      const gone = await request(h.app).delete('/api/object/k').set(t.auth).set('If-Match', '*');
      expectError(gone, 412, 'PRECONDITION_FAILED');
      expect(gone.body.current_version).toBeNull();
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0, revision: 2 });
    });
  });

  describe('batches', () => {
    it('writes all items when every if_version and if_absent holds, in one revision', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('a', 1).expect(201);
      const res = await api(h, t)
        .batch([
          { key: 'a', value: 2, if_version: 1 },
          { key: 'b', value: 3, if_absent: true },
          { key: 'c', value: 4 },
        ] as never)
        .expect(201);
      expect(res.headers.etag).toBe('"2"');
      for (const key of ['a', 'b', 'c']) expect((await api(h, t).get(key).expect(200)).body.version).toBe(2);
    });

    it('with any failed check: 412 listing every failed item, and nothing of the batch written', async () => {
      const t = await makeTenant(h);
      await api(h, t).put('a', 1).expect(201);
      await api(h, t).put('b', 1).expect(201);
      const before = await ledger(h, t.id);
      const res = await api(h, t).batch([
        { key: 'a', value: 'x', if_version: 9 },
        { key: 'b', value: 'x', if_absent: true },
        { key: 'c', value: 'x', if_version: 1 },
        { key: 'd', value: 'x', if_absent: true },
        { key: 'e', value: 'x' },
      ] as never);
      expectError(res, 412, 'PRECONDITION_FAILED', 'a precondition of the batch failed');
      expect(res.body.failed).toEqual([
        { key: 'a', current_version: 1 },
        { key: 'b', current_version: 2 },
        { key: 'c', current_version: null },
      ]);
      expect(await ledger(h, t.id)).toEqual(before);
      expect(await storedKeys(h, t.id)).toEqual(['a', 'b']);
    });

    it('refuses an item with both if_version and if_absent', async () => {
      const t = await makeTenant(h);
      const res = await api(h, t).batch([{ key: 'a', value: 1, if_version: 1, if_absent: true }] as never);
      expectError(res, 400, 'INVALID_PRECONDITION', 'batch item 0');
    });
  });

  it('lets exactly one of 20 concurrent If-Match writers of a version win, round after round', async () => {
    const server = await listen(h);
    try {
      const t = await makeTenant(h);
      await api(server.url, t).put('hot', 'v0').expect(201);
      let version = 1;
      for (let round = 0; round < 5; round++) {
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            request(server.url)
              .post('/api/object')
              .set(t.auth)
              .set('If-Match', `"${version}"`)
              .send({ key: 'hot', value: `r${round}-w${i}` }),
          ),
        );
        const winners = results.filter((r) => r.status === 201);
        expect(winners).toHaveLength(1);
        const next = Number(JSON.parse(winners[0].headers.etag as string));
        expect(next).toBe(version + 1);
        for (const loser of results.filter((r) => r.status !== 201)) {
          expectError(loser, 412, 'PRECONDITION_FAILED');
          expect(loser.body.current_version).toBe(next);
        }
        const stored = (await api(server.url, t).get('hot').expect(200)).body;
        expect(stored.version).toBe(next);
        version = next;
      }
      expect(await ledger(h, t.id)).toMatchObject({ revision: 6, objectCount: 1 });
      await expectLedgerExact(h, t.id);
    } finally {
      await server.close();
    }
  });
});
