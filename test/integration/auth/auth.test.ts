import crypto from 'node:crypto';
import jwt from 'jsonwebtoken';
import { GIB } from '../../../src/platform/config';
import {
  describeTargets,
  JWT_SECRET,
  expectError,
  harness,
  makeTenant,
  objectPath,
  request,
  uniqueName,
} from '../../support/harness';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

function base64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

/** A JWT assembled by hand, so that headers no library would write (alg none, wrong alg) can be tested. */
function handmadeToken(header: object, payload: object, secret?: string): string {
  const head = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
  const signature = secret === undefined ? '' : crypto.createHmac('sha256', secret).update(head).digest('base64url');
  return `${head}.${signature}`;
}

describeTargets('auth', (h, target) => {
  const register = (body: object) => request(h.app).post('/api/auth/register').send(body);
  const login = (body: object) => request(h.app).post('/api/auth/login').send(body);

  describe('register', () => {
    it('creates a tenant with 201 and the capacity it asked for', async () => {
      const name = uniqueName('reg');
      const res = await register({ user_name: name, password: 'pw one', provisioned_capacity: 5000 });
      expect(res.status).toBe(201);
      expect(res.body).toEqual({ id: expect.any(Number), user_name: name, provisioned_capacity: 5000 });
      const row = await h.db.knex('tenants').first('user_name', 'provisioned', 'utilised').where('id', res.body.id);
      // MySQL keeps names as bytes (compared exactly), SQLite as text.
      expect(String(row.user_name)).toBe(name);
      expect(Number(row.provisioned)).toBe(5000);
      expect(Number(row.utilised)).toBe(0);
    });

    it('accepts the aliases name and provisionedCapacity', async () => {
      const name = uniqueName('alias');
      const res = await register({ name, password: 'pw', provisionedCapacity: 777 });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ user_name: name, provisioned_capacity: 777 });
      await login({ name, password: 'pw' }).expect(200);
    });

    it('gives DEFAULT_CAPACITY_BYTES (1 GiB) when the capacity is absent or 0', async () => {
      const absent = await register({ user_name: uniqueName(), password: 'pw' }).expect(201);
      expect(absent.body.provisioned_capacity).toBe(GIB);
      const zero = await register({ user_name: uniqueName(), password: 'pw', provisioned_capacity: 0 }).expect(201);
      expect(zero.body.provisioned_capacity).toBe(GIB);
      const row = await h.db.knex('tenants').first('provisioned').where('id', zero.body.id);
      expect(Number(row.provisioned)).toBe(GIB);
    });

    it('refuses a taken name with 400 "user already exists", leaving the first tenant alone', async () => {
      const name = uniqueName('dup');
      await register({ user_name: name, password: 'first', provisioned_capacity: 100 }).expect(201);
      const res = await register({ user_name: name, password: 'second', provisioned_capacity: 200 });
      expectError(res, 400, undefined, 'user already exists');
      await login({ user_name: name, password: 'first' }).expect(200);
      expectError(await login({ user_name: name, password: 'second' }), 400);
      expect(await h.db.knex('tenants').where('user_name', name).count({ n: '*' })).toEqual([{ n: 1 }]);
    });

    it('lets exactly one of several concurrent registrations of a name succeed', async () => {
      const name = uniqueName('race');
      const results = await Promise.all(
        Array.from({ length: 5 }, (_, i) => register({ user_name: name, password: `pw${i}` })),
      );
      expect(results.filter((r) => r.status === 201)).toHaveLength(1);
      for (const r of results.filter((x) => x.status !== 201)) expectError(r, 400, undefined, 'user already exists');
      expect(await h.db.knex('tenants').where('user_name', name).count({ n: '*' })).toEqual([{ n: 1 }]);
    });

    it('treats names that differ in case as different users', async () => {
      const name = uniqueName('case');
      await register({ user_name: name, password: 'pw' }).expect(201);
      await register({ user_name: name.toUpperCase(), password: 'other' }).expect(201);
      expectError(await login({ user_name: name.toUpperCase(), password: 'pw' }), 400);
    });

    it('compares names exactly on every database: trailing spaces make a different user', async () => {
      // Same rule as keys. On MySQL/MariaDB a VARCHAR with a PAD SPACE collation would make "name " equal "name".
      const name = uniqueName('pad');
      await register({ user_name: name, password: 'pw' }).expect(201);
      expectError(
        await login({ user_name: `${name}   `, password: 'pw' }),
        400,
        undefined,
        'invalid username/password',
      );
      const padded = await register({ user_name: `${name} `, password: 'other' });
      expect(padded.status).toBe(201);
      await login({ user_name: `${name} `, password: 'other' }).expect(200);
    });

    it.each<[string, object]>([
      ['no user name', { password: 'pw' }],
      ['no password', { user_name: 'someone' }],
      ['an empty user name', { user_name: '', password: 'pw' }],
      ['an empty password', { user_name: 'someone', password: '' }],
      ['a user name over 64 characters', { user_name: 'u'.repeat(65), password: 'pw' }],
      ['a control character in the user name', { user_name: 'a\nb', password: 'pw' }],
      ['a numeric user name', { user_name: 42, password: 'pw' }],
      ['a numeric password', { user_name: 'someone', password: 1234 }],
      ['a string capacity', { user_name: 'someone', password: 'pw', provisioned_capacity: '100' }],
      ['a negative capacity', { user_name: 'someone', password: 'pw', provisioned_capacity: -1 }],
      ['a non-integer capacity', { user_name: 'someone', password: 'pw', provisioned_capacity: 10.5 }],
      [
        'a capacity over the self-registration cap',
        { user_name: 'someone', password: 'pw', provisioned_capacity: GIB + 1 },
      ],
      ['a negative alias capacity', { name: 'someone', password: 'pw', provisionedCapacity: -5 }],
    ])('refuses %s with a 400', async (_name, body) => {
      expectError(await register(body), 400);
      expect(await h.db.knex('tenants').where('user_name', 'someone').count({ n: '*' })).toEqual([{ n: 0 }]);
    });

    it('accepts a capacity of exactly the self-registration cap', async () => {
      const res = await register({ user_name: uniqueName(), password: 'pw', provisioned_capacity: GIB }).expect(201);
      expect(res.body.provisioned_capacity).toBe(GIB);
    });

    it('stores the password hashed with scrypt, never in clear', async () => {
      const name = uniqueName('hash');
      const password = 'a very particular passphrase ü';
      const res = await register({ user_name: name, password }).expect(201);
      const row = await h.db.knex('tenants').first('password_hash').where('id', res.body.id);
      const stored = String(row.password_hash);
      expect(stored).toMatch(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
      expect(stored).not.toContain(password);
      expect(stored).not.toContain(Buffer.from(password).toString('base64'));
      // Salted: the same password hashes differently for another user.
      const other = await register({ user_name: uniqueName('hash'), password }).expect(201);
      const otherRow = await h.db.knex('tenants').first('password_hash').where('id', other.body.id);
      expect(otherRow.password_hash).not.toBe(stored);
    });

    it('answers 415 JSON to a body that is not application/json', async () => {
      const res = await request(h.app)
        .post('/api/auth/register')
        .set('Content-Type', 'text/plain')
        .send(JSON.stringify({ user_name: uniqueName(), password: 'pw' }));
      expectError(res, 415);
    });

    it('refuses self-registration with 403 when SELF_REGISTRATION=false', async () => {
      const closed = await harness(target, { env: { SELF_REGISTRATION: 'false' } });
      try {
        const name = uniqueName('closed');
        const res = await request(closed.app).post('/api/auth/register').send({ user_name: name, password: 'pw' });
        expectError(res, 403);
        expect(await closed.db.knex('tenants').where('user_name', name).count({ n: '*' })).toEqual([{ n: 0 }]);
      } finally {
        await closed.close();
      }
    });

    it('caps the self-registered capacity at SELF_REGISTRATION_MAX_BYTES', async () => {
      const capped = await harness(target, {
        env: { SELF_REGISTRATION_MAX_BYTES: '1000', DEFAULT_CAPACITY_BYTES: '500' },
      });
      try {
        const reg = (body: object) => request(capped.app).post('/api/auth/register').send(body);
        expect((await reg({ user_name: uniqueName(), password: 'pw', provisioned_capacity: 1000 })).status).toBe(201);
        expectError(await reg({ user_name: uniqueName(), password: 'pw', provisioned_capacity: 1001 }), 400);
        const dflt = await reg({ user_name: uniqueName(), password: 'pw' });
        expect(dflt.status).toBe(201);
        expect(dflt.body.provisioned_capacity).toBe(500);
      } finally {
        await capped.close();
      }
    });
  });

  describe('login', () => {
    let name: string;
    beforeAll(async () => {
      name = uniqueName('login');
      await register({ user_name: name, password: 'secret pw', provisioned_capacity: 4096 }).expect(201);
    });

    it('answers 200 {token, expires_at}, every field a string, expires_at RFC 3339 UTC', async () => {
      const res = await login({ user_name: name, password: 'secret pw' });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(Object.keys(res.body).sort()).toEqual(['expires_at', 'token']);
      for (const value of Object.values(res.body)) expect(typeof value).toBe('string');
      expect(res.body.expires_at).toMatch(RFC3339_UTC);
      const claims = jwt.verify(res.body.token, JWT_SECRET) as jwt.JwtPayload;
      expect(new Date(res.body.expires_at).getTime()).toBe((claims.exp as number) * 1000);
      expect((claims.exp as number) - (claims.iat as number)).toBe(h.config.jwtLifetimeSeconds);
    });

    it("issues a token that works, as 'Bearer <jwt>', 'bearer <jwt>' and the bare '<jwt>'", async () => {
      const { token } = (await login({ user_name: name, password: 'secret pw' }).expect(200)).body as {
        token: string;
      };
      await request(h.app)
        .post('/api/object')
        .set('Authorization', `Bearer ${token}`)
        .send({ key: 'k', value: 'v' })
        .expect(201);
      expect((await request(h.app).get(objectPath('k')).set('Authorization', token).expect(200)).body.value).toBe('v');
      await request(h.app).get(objectPath('k')).set('Authorization', `bearer ${token}`).expect(200);
      await request(h.app).get(objectPath('k')).set('Authorization', `  Bearer   ${token}  `).expect(200);
      const quota = await request(h.app).get('/api/quota').set('Authorization', token).expect(200);
      expect(quota.body).toMatchObject({ provisioned: 4096, utilised: 3 });
      await request(h.app).delete(objectPath('k')).set('Authorization', token).expect(204);
    });

    it('answers an identical 400 "invalid username/password" for a wrong password and an unknown user', async () => {
      const wrong = await login({ user_name: name, password: 'not it' });
      const unknown = await login({ user_name: uniqueName('nobody'), password: 'secret pw' });
      const caseDiffers = await login({ user_name: name.toUpperCase(), password: 'secret pw' });
      for (const res of [wrong, unknown, caseDiffers]) {
        expectError(res, 400, undefined, 'invalid username/password');
      }
      expect(unknown.body).toEqual(wrong.body);
      expect(caseDiffers.body).toEqual(wrong.body);
    });

    it('refuses a tenant that has no password (made by an operator) like any wrong password', async () => {
      const t = await makeTenant(h);
      expectError(await login({ user_name: t.name, password: '' }), 400);
      const res = await login({ user_name: t.name, password: 'anything' });
      expectError(res, 400, undefined, 'invalid username/password');
    });

    it.each<[string, object]>([
      ['no password', { user_name: 'someone' }],
      ['no user name', { password: 'pw' }],
      ['a numeric password', { user_name: 'someone', password: 12 }],
    ])('refuses a body with %s with a 400', async (_name, body) => {
      expectError(await login(body), 400);
    });
  });

  describe('object routes need a valid token', () => {
    const routes: [string, (auth?: string) => request.Test][] = [
      ['POST /api/object', (auth) => withAuth(request(h.app).post('/api/object'), auth).send({ key: 'k', value: 1 })],
      ['GET /api/object/:key', (auth) => withAuth(request(h.app).get(objectPath('k')), auth)],
      ['DELETE /api/object/:key', (auth) => withAuth(request(h.app).delete(objectPath('k')), auth)],
      [
        'POST /api/batch/object',
        (auth) => withAuth(request(h.app).post('/api/batch/object'), auth).send([{ key: 'k', value: 1 }]),
      ],
      ['GET /api/quota', (auth) => withAuth(request(h.app).get('/api/quota'), auth)],
    ];

    function withAuth(test: request.Test, auth: string | undefined): request.Test {
      return auth === undefined ? test : test.set('Authorization', auth);
    }

    it.each(routes)('%s answers 401 JSON without a token', async (_route, call) => {
      expectError(await call(), 401, 'UNAUTHORIZED');
      expectError(await call(''), 401, 'UNAUTHORIZED');
      expectError(await call('Bearer'), 401, 'UNAUTHORIZED');
      expectError(await call('Bearer '), 401, 'UNAUTHORIZED');
    });

    it.each(routes)('%s answers 401 JSON to forged, malformed and expired tokens', async (_route, call) => {
      const t = await makeTenant(h);
      const now = Math.floor(Date.now() / 1000);
      const claims = { sub: String(t.id), tv: 0, scope: 'read write', iat: now, exp: now + 3600 };
      const forged = [
        'not-a-jwt',
        'a.b.c',
        `${t.token}x`,
        t.token.split('.').slice(0, 2).join('.'),
        `Basic ${Buffer.from('user:pass').toString('base64')}`,
        // Expired, though well signed.
        jwt.sign({ ...claims, iat: now - 7200, exp: now - 3600 }, JWT_SECRET, { algorithm: 'HS256' }),
        // Signed with another secret.
        jwt.sign(claims, 'some-other-secret-some-other-secret-0123456789', { algorithm: 'HS256' }),
        // alg none, with and without a trailing signature.
        handmadeToken({ alg: 'none', typ: 'JWT' }, claims),
        handmadeToken({ alg: 'none', typ: 'JWT' }, claims, JWT_SECRET),
        handmadeToken({ alg: 'NONE', typ: 'JWT' }, claims),
        // The right secret under another algorithm than HS256.
        jwt.sign(claims, JWT_SECRET, { algorithm: 'HS512' }),
        // Someone else's payload spliced onto this tenant's signature.
        `${t.token.split('.')[0]}.${base64url(JSON.stringify({ ...claims, sub: '1' }))}.${t.token.split('.')[2]}`,
        // Well signed, but not a token this service issues.
        jwt.sign({ ...claims, sub: t.id }, JWT_SECRET, { algorithm: 'HS256' }),
        jwt.sign({ ...claims, sub: 'abc' }, JWT_SECRET, { algorithm: 'HS256' }),
        jwt.sign({ ...claims, sub: '0' }, JWT_SECRET, { algorithm: 'HS256' }),
        jwt.sign({ sub: String(t.id), scope: 'read write', iat: now, exp: now + 60 }, JWT_SECRET, {
          algorithm: 'HS256',
        }),
        jwt.sign({ ...claims, scope: 'admin' }, JWT_SECRET, { algorithm: 'HS256' }),
        // A tenant that does not exist.
        jwt.sign({ ...claims, sub: '987654321' }, JWT_SECRET, { algorithm: 'HS256' }),
      ];
      for (const token of forged) {
        const bearer = await call(`Bearer ${token}`);
        expectError(bearer, 401);
        const bare = await call(token);
        expectError(bare, 401);
      }
      // The same claims, properly signed, do work.
      const good = jwt.sign(claims, JWT_SECRET, { algorithm: 'HS256' });
      expect((await call(`Bearer ${good}`)).status).not.toBe(401);
    });

    it("refuses a token issued under an older token version (the tenant's tokens were revoked)", async () => {
      const t = await makeTenant(h);
      await h.db.knex('tenants').update({ token_version: 1 }).where('id', t.id);
      // A fresh app: the access cache of `h` may remember version 0 for a while.
      const fresh = await harness(target);
      try {
        expectError(await request(fresh.app).get('/api/quota').set(t.auth), 401);
      } finally {
        await fresh.close();
      }
    });

    it('enforces the scopes in the token: a read-only token cannot write', async () => {
      const t = await makeTenant(h);
      const now = Math.floor(Date.now() / 1000);
      const readOnly = jwt.sign({ sub: String(t.id), tv: 0, scope: 'read', iat: now, exp: now + 600 }, JWT_SECRET, {
        algorithm: 'HS256',
      });
      expectError(
        await request(h.app).post('/api/object').set('Authorization', readOnly).send({ key: 'k', value: 1 }),
        403,
        'INSUFFICIENT_SCOPE',
      );
      expectError(await request(h.app).get(objectPath('k')).set('Authorization', readOnly), 404, 'OBJECT_NOT_FOUND');
      await request(h.app).get('/api/quota').set('Authorization', readOnly).expect(200);
    });

    it('takes the tenant from the token alone, never from the body, query or headers', async () => {
      const a = await makeTenant(h);
      const b = await makeTenant(h);
      await request(h.app)
        .post(`/api/object?tenant_id=${b.id}`)
        .set(a.auth)
        .set('X-Tenant-Id', String(b.id))
        .send({ key: 'mine', value: 'a', tenant_id: b.id, tenantId: b.id, user_name: b.name })
        .expect(201);
      expectError(await request(h.app).get(objectPath('mine')).set(b.auth), 404, 'OBJECT_NOT_FOUND');
      expect((await request(h.app).get(objectPath('mine')).set(a.auth).expect(200)).body.value).toBe('a');
      const row = await h.db.knex('objects').first('tenant_id').where('tenant_id', a.id);
      expect(Number(row.tenant_id)).toBe(a.id);
      expect(await h.db.knex('objects').where('tenant_id', b.id).count({ n: '*' })).toEqual([{ n: 0 }]);
    });
  });
});
