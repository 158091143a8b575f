import { chooseWriteStrategy, WRITE_PROCEDURES, type WriteStrategy } from '../../../src/features/objects';
import { createLogger } from '../../../src/platform/logger';
import {
  api,
  expectError,
  expectLedgerExact,
  harness,
  ledger,
  makeTenant,
  storedKeys,
  valueOfSize,
  writeExpiredInDb,
  type Harness,
} from '../../support/harness';
import { targets } from '../../support/targets';

/**
 * The write contract: every write case, against every write strategy the database has (MySQL: the stored
 * procedures and plain transactions; SQLite: transactions). The procedures decide in SQL what the pipeline
 * decides in TypeScript, so this suite is what pins them to the same answers, to the byte and to the revision.
 */
const cases = targets().flatMap((target) =>
  (target === 'mysql' ? ['procedure', 'transaction'] : ['transaction']).map((s) => [target, s] as const),
);

describe.each(cases)('the write contract on %s through the %s strategy', (target, strategy) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(target, { writeStrategy: strategy as WriteStrategy['name'] });
    expect(h.container.writeStrategy.name).toBe(strategy);
  });
  afterAll(() => h.close());
  beforeEach(() => h.clock.reset());

  describe('the quota', () => {
    it('accepts a write that fills it exactly and refuses one byte more, writing nothing, taking no revision', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      await kv.put('a', valueOfSize(600)).expect(201);
      await kv.put('b', valueOfSize(400)).expect(201);
      const before = await ledger(h, t.id);
      expect(before).toMatchObject({ utilised: 1000, objectCount: 2, revision: 2 });
      expectError(await kv.put('c', valueOfSize(2)), 403, 'QUOTA_EXCEEDED', 'quota exceeded');
      expect(await ledger(h, t.id)).toEqual(before);
      expect(await storedKeys(h, t.id)).toEqual(['a', 'b']);
    });

    it('charges an overwrite only its difference, both ways, and refuses growth past the quota', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      await kv.put('a', valueOfSize(600)).expect(201);
      await kv.put('b', valueOfSize(300)).expect(201);
      expectError(await kv.put('a', valueOfSize(701)), 403, 'QUOTA_EXCEEDED');
      expect((await kv.get('a').expect(200)).body.value).toBe(valueOfSize(600));
      await kv.put('a', valueOfSize(700)).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 1000, objectCount: 2 });
      await kv.put('a', valueOfSize(100)).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 400, objectCount: 2, revision: 4 });
    });

    it('moves the revision on a same-size overwrite, which changes no ledger column', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      await kv.put('a', 'one').expect(201);
      await kv.put('a', 'two').expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 5, objectCount: 1, revision: 2 });
      expect((await kv.get('a').expect(200)).body.value).toBe('two');
    });

    it('lets a tenant over a lowered quota shrink and delete, never grow', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      await kv.put('a', valueOfSize(500)).expect(201);
      await kv.put('b', valueOfSize(500)).expect(201);
      await h.db.knex('tenants').update({ provisioned: 300 }).where('id', t.id);
      expectError(await kv.put('a', valueOfSize(501)), 403, 'QUOTA_EXCEEDED');
      await kv.put('a', valueOfSize(500)).expect(201);
      await kv.put('a', valueOfSize(100)).expect(201);
      await kv.del('b').expect(204);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 100, objectCount: 1 });
    });
  });

  describe('the reclaim of expired space', () => {
    it('lets a full tenant whose objects expired write again, removing and refunding them', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      for (let i = 0; i < 4; i++)
        await writeExpiredInDb(h, (ttl) => kv.put(`old${i}`, valueOfSize(250), ttl).expect(201));
      await kv.put('new', valueOfSize(1000)).expect(201);
      expect(await storedKeys(h, t.id)).toEqual(['new']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 1000, objectCount: 1 });
    });

    it('keeps the reclaim but still refuses, writing nothing of the write, when the expired bytes are not enough', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      await kv.put('keep', valueOfSize(500)).expect(201);
      await writeExpiredInDb(h, (ttl) => kv.put('old', valueOfSize(300), ttl).expect(201));
      const before = await ledger(h, t.id);
      expectError(await kv.put('new', valueOfSize(501)), 403, 'QUOTA_EXCEEDED');
      expect(await storedKeys(h, t.id)).toEqual(['keep']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 500, revision: before.revision + 1 });
    });

    it('charges the overwrite of an expired key against its old size', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      await writeExpiredInDb(h, (ttl) => kv.put('k', valueOfSize(900), ttl).expect(201));
      await kv.put('k', valueOfSize(950)).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 950, objectCount: 1 });
    });
  });

  describe('deletes', () => {
    it('refunds a deleted object and moves the revision; a missing key changes nothing', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      await kv.put('a', valueOfSize(100)).expect(201);
      await kv.del('a').expect(204);
      const after = await expectLedgerExact(h, t.id);
      expect(after).toMatchObject({ utilised: 0, objectCount: 0, revision: 2 });
      await kv.del('a').expect(204);
      await kv.del('never').expect(204);
      expect(await ledger(h, t.id)).toEqual(after);
    });
  });

  describe('tenants that are gone', () => {
    it('refuses a write for a tenant marked deleted, and writes nothing', async () => {
      const t = await makeTenant(h);
      await h.db.knex('tenants').update({ deleted: true }).where('id', t.id);
      const outcome = await h.container.writeStrategy.putOne(
        t.id,
        { key: 'k', value: '1', metadata: null, size: 1, expiresAt: null },
        { seconds: 0, ms: 0 },
      );
      expect(outcome).toEqual({ status: 'no_tenant' });
      expect(await ledger(h, t.id)).toMatchObject({ utilised: 0, storedObjects: 0, revision: 0 });
    });

    it('answers no_tenant, writing nothing, for a tenant whose row does not exist', async () => {
      const write = { key: 'k', value: '1', metadata: null, size: 1, expiresAt: null };
      expect(await h.container.writeStrategy.putOne(2 ** 40, write, { seconds: 0, ms: 0 })).toEqual({
        status: 'no_tenant',
      });
      expect(await h.container.writeStrategy.deleteOne(2 ** 40, 'k', { seconds: 0, ms: 0 })).toEqual({
        status: 'no_tenant',
      });
      expect(
        await h.db
          .knex('objects')
          .where('tenant_id', 2 ** 40)
          .count({ n: '*' }),
      ).toEqual([{ n: 0 }]);
    });

    it('answers 401 through the API when the tenant is gone between authentication and the write', async () => {
      const t = await makeTenant(h);
      await api(h, t).quota().expect(200); // the access cache now holds the tenant as live
      await h.db.knex('tenants').update({ deleted: true }).where('id', t.id);
      expectError(await api(h, t).put('k', 1), 401, 'UNAUTHORIZED', 'tenant no longer exists');
      expect(await ledger(h, t.id)).toMatchObject({ storedObjects: 0 });
    });
  });

  describe('batches', () => {
    it('writes all or nothing: a batch over the quota writes none of its items', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      await kv.put('a', valueOfSize(500)).expect(201);
      const before = await ledger(h, t.id);
      const items = [
        { key: 'a', value: valueOfSize(100) },
        { key: 'b', value: valueOfSize(500) },
        { key: 'c', value: valueOfSize(401) },
      ];
      expectError(await kv.batch(items), 403, 'QUOTA_EXCEEDED');
      expect(await ledger(h, t.id)).toEqual(before);
      expect((await kv.get('a').expect(200)).body.value).toBe(valueOfSize(500));
      await kv.batch(items.slice(0, 2)).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 600, objectCount: 2 });
    });

    it('moves the revision once for a batch whose sizes net to zero', async () => {
      const t = await makeTenant(h, 1000);
      const kv = api(h, t);
      await kv.batch([
        { key: 'a', value: valueOfSize(10) },
        { key: 'b', value: valueOfSize(20) },
      ]);
      const before = await ledger(h, t.id);
      await kv
        .batch([
          { key: 'a', value: valueOfSize(20) },
          { key: 'b', value: valueOfSize(10) },
        ])
        .expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 30, revision: before.revision + 1 });
    });
  });

  describe('races', () => {
    it('lets exactly the writes that fit through when 60 race for the last bytes', async () => {
      const t = await makeTenant(h, 1000);
      const res = await Promise.all(Array.from({ length: 60 }, (_, i) => api(h, t).put(`k${i}`, 'x'.repeat(68))));
      expect(res.filter((r) => r.status === 201)).toHaveLength(14);
      for (const r of res.filter((x) => x.status !== 201)) expectError(r, 403, 'QUOTA_EXCEEDED');
      expect(await ledger(h, t.id)).toMatchObject({ utilised: 980, storedBytes: 980, objectCount: 14, revision: 14 });
    });

    it('charges a key created by 40 racing writers once, and refunds it once when 20 delete it', async () => {
      const t = await makeTenant(h, 100_000);
      const puts = await Promise.all(Array.from({ length: 40 }, (_, i) => api(h, t).put('same', 'y'.repeat(i))));
      for (const r of puts) expect(r.status).toBe(201);
      const after = await expectLedgerExact(h, t.id);
      expect(after).toMatchObject({ objectCount: 1, revision: 40 });
      await Promise.all(Array.from({ length: 20 }, () => api(h, t).del('same').expect(204)));
      expect(await ledger(h, t.id)).toMatchObject({ utilised: 0, storedBytes: 0, objectCount: 0, revision: 41 });
    });
  });

  it('stores any Unicode value and key byte for byte', async () => {
    const t = await makeTenant(h);
    const value = { text: 'héllo wörld 😀 中文 \u0000 \ud800', nested: ['ß', { ключ: 'значение' }] };
    const key = 'ключ😀é';
    await api(h, t).put(key, value).expect(201);
    expect((await api(h, t).get(key).expect(200)).body).toMatchObject({ key, value, ttl: 0 });
    const l = await expectLedgerExact(h, t.id);
    expect(l.utilised).toBe(Buffer.byteLength(JSON.stringify(value)));
  });
});

describe.each(targets())('choosing the write strategy on %s', (target) => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness(target);
  });
  afterAll(() => h.close());

  it(`uses ${target === 'mysql' ? 'the procedures' : 'transactions'} when nothing is forced`, () => {
    expect(h.container.writeStrategy.name).toBe(target === 'mysql' ? 'procedure' : 'transaction');
  });

  if (target === 'mysql') {
    it.each([
      ['none of the procedures is installed', []],
      [
        'only the previous releases’ are (a migration that lacked the privilege)',
        ['tenantkv_put_v2', 'tenantkv_delete_v2'],
      ],
      ['only one of this release’s is', [WRITE_PROCEDURES.put]],
    ])('falls back to transactions, and says so, when %s', async (_case, installed) => {
      const lines: string[] = [];
      const logger = createLogger({ logLevel: 'warn' });
      const warn = jest.spyOn(logger, 'warn').mockImplementation(((obj: unknown, msg?: string) => {
        lines.push(`${JSON.stringify(obj)} ${msg}`);
      }) as never);
      const db = { ...h.db, dialect: { ...h.db.dialect, existingRoutines: async () => new Set<string>(installed) } };
      const chosen = await chooseWriteStrategy(db, h.container.pipeline, () => undefined, logger);
      expect(chosen.name).toBe('transaction');
      expect(warn).toHaveBeenCalledTimes(1);
      expect(lines[0]).toMatch(/tenantkv_put_v4|tenantkv_delete_v4/);
    });
  }
});
