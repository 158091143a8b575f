import { buildApp } from '../../src/app';
import { createLogger } from '../../src/logger';
import type { Db } from '../../src/db/knex';
import { harness, JWT_SECRET, ledger, makeTenant, request, type Harness } from '../support/harness';
import { targets } from '../support/targets';

/**
 * On MySQL a single write or delete is one call to a stored procedure; without the privilege to create
 * procedures it is an ordinary transaction. Both must keep the ledger exact under races.
 */
const paths = targets().flatMap((target) =>
  target === 'mysql'
    ? [
        ['mysql', 'procedures', true],
        ['mysql', 'plain transactions', false],
      ]
    : [['sqlite', 'plain transactions', false]],
) as [string, string, boolean][];

describe.each(paths)('writes on %s through %s', (target, _path, procedures) => {
  let h: Harness;
  let app: ReturnType<typeof buildApp>;
  beforeAll(() => {
    h = harness(target as 'mysql' | 'sqlite');
    const db: Db = { knex: h.db.knex, dialect: { ...h.db.dialect, hasProcedures: procedures } };
    app = buildApp({ config: h.config, db, logger: createLogger(h.config), jwtSecret: JWT_SECRET, clock: h.clock });
  });
  afterAll(() => h.close());

  it('lets exactly the writes that fit through when 60 race for the last bytes', async () => {
    const t = await makeTenant(h, 1000);
    const res = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        request(app)
          .post('/api/object')
          .set(t.auth)
          .send({ key: `k${i}`, value: 'x'.repeat(68) }),
      ),
    );
    expect(res.filter((r) => r.status === 201)).toHaveLength(14);
    expect(res.filter((r) => r.status === 403)).toHaveLength(46);
    expect(await ledger(h, t.id)).toMatchObject({ utilised: 980, storedBytes: 980, objectCount: 14 });
  });

  it('charges a key created by 40 racing writers once, and refunds it once when 20 delete it', async () => {
    const t = await makeTenant(h, 100_000);
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        request(app)
          .post('/api/object')
          .set(t.auth)
          .send({ key: 'same', value: 'y'.repeat(i) }),
      ),
    );
    const after = await ledger(h, t.id);
    expect(after.utilised).toBe(after.storedBytes);
    expect(after.objectCount).toBe(1);
    await Promise.all(
      Array.from({ length: 20 }, () => request(app).delete('/api/object/same').set(t.auth).expect(204)),
    );
    expect(await ledger(h, t.id)).toMatchObject({ utilised: 0, storedBytes: 0, objectCount: 0 });
  });

  it('stores any Unicode value and key byte for byte', async () => {
    const t = await makeTenant(h);
    const value = { text: 'héllo wörld 😀 中文 \u0000 \ud800', nested: ['ß', { ключ: 'значение' }] };
    const key = 'ключ😀é';
    await request(app).post('/api/object').set(t.auth).send({ key, value }).expect(201);
    const got = await request(app)
      .get(`/api/object/${encodeURIComponent(key)}`)
      .set(t.auth)
      .expect(200);
    expect(got.body).toEqual({ key, value, ttl: 0 });
    const l = await ledger(h, t.id);
    expect(l.utilised).toBe(Buffer.byteLength(JSON.stringify(value)));
    expect(l.utilised).toBe(l.storedBytes);
  });

  it('refuses a write for a tenant that no longer exists, and writes nothing', async () => {
    const t = await makeTenant(h);
    await h.db.knex('tenants').update({ deleted: true }).where('id', t.id);
    await request(app).post('/api/object').set(t.auth).send({ key: 'k', value: 1 }).expect(401);
    expect(await ledger(h, t.id)).toMatchObject({ utilised: 0, storedObjects: 0 });
  });
});
