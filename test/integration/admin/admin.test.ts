import { describeTargets, harness, makeTenant, ledger, request, uniqueName } from '../../support/harness';
import { TenantRepository } from '../../../src/features/tenants';

const KEY_A = 'admin-key-aaaaaaaaaaaaaaaaaaaaaaaa';
const KEY_B = 'admin-key-bbbbbbbbbbbbbbbbbbbbbbbb';
const ADMIN_ENV = { ADMIN_API_KEYS: `${KEY_A}, ${KEY_B}` };
const asAdmin = { Authorization: `Bearer ${KEY_A}` };

describeTargets(
  'admin API',
  (h, target) => {
    async function createTenant(body: Record<string, unknown> = {}): Promise<{ id: number; user_name: string }> {
      const res = await request(h.app)
        .post('/api/admin/tenants')
        .set(asAdmin)
        .send({ user_name: uniqueName('adm'), provisioned_capacity: 1000, ...body })
        .expect(201);
      return res.body;
    }

    async function createToken(tenantId: number, scopes: string[], extra: Record<string, unknown> = {}) {
      const res = await request(h.app)
        .post(`/api/admin/tenants/${tenantId}/tokens`)
        .set(asAdmin)
        .send({ scopes, ...extra })
        .expect(201);
      return res.body as { id: string; token: string; scopes: string[]; expires_at: string | null };
    }

    describe('authentication', () => {
      it('accepts every configured key and refuses a missing or wrong one with 401', async () => {
        await request(h.app).get('/api/admin/tenants').set(asAdmin).expect(200);
        await request(h.app)
          .get('/api/admin/tenants')
          .set({ Authorization: `Bearer ${KEY_B}` })
          .expect(200);
        const none = await request(h.app).get('/api/admin/tenants').expect(401);
        expect(none.body).toMatchObject({ status_code: 401, code: 'UNAUTHORIZED' });
        await request(h.app)
          .get('/api/admin/tenants')
          .set({ Authorization: `Bearer ${KEY_A}x` })
          .expect(401);
        await request(h.app).get('/api/admin/tenants').set({ Authorization: 'Bearer short' }).expect(401);
      });

      it('refuses a tenant token on every admin route with 403', async () => {
        const t = await makeTenant(h);
        const routes: [string, string][] = [
          ['post', '/api/admin/tenants'],
          ['get', '/api/admin/tenants'],
          ['get', `/api/admin/tenants/${t.id}`],
          ['patch', `/api/admin/tenants/${t.id}`],
          ['delete', `/api/admin/tenants/${t.id}`],
          ['post', `/api/admin/tenants/${t.id}/tokens`],
          ['get', `/api/admin/tenants/${t.id}/tokens`],
          ['delete', `/api/admin/tenants/${t.id}/tokens/tok_000000000000000000000000`],
        ];
        for (const [method, path] of routes) {
          const res = await (request(h.app) as unknown as Record<string, (p: string) => request.Test>)
            [method](path)
            .set(t.auth)
            .send({ provisioned_capacity: 1 });
          expect([method, path, res.status]).toEqual([method, path, 403]);
          expect(res.body.code).toBe('ADMIN_KEY_REQUIRED');
          const bare = await (request(h.app) as unknown as Record<string, (p: string) => request.Test>)[method](path);
          expect([method, path, bare.status]).toEqual([method, path, 401]);
        }
        expect((await ledger(h, t.id)).provisioned).toBe(1024 * 1024);
      });

      it('answers 503 with how to configure when no admin key is set', async () => {
        const closed = await harness(target, { env: { ADMIN_API_KEYS: '' } });
        try {
          const res = await request(closed.app).get('/api/admin/tenants').set(asAdmin).expect(503);
          expect(res.body).toMatchObject({ status_code: 503, code: 'ADMIN_DISABLED' });
          expect(res.body.message).toContain('ADMIN_API_KEYS');
        } finally {
          await closed.close();
        }
      });
    });

    describe('tenants', () => {
      it('creates, reads and refuses a duplicate', async () => {
        const name = uniqueName('acme');
        const res = await request(h.app)
          .post('/api/admin/tenants')
          .set(asAdmin)
          .send({ user_name: name, password: 'pw-123456', provisioned_capacity: 5000 })
          .expect(201);
        expect(res.body).toEqual({
          id: expect.any(Number),
          user_name: name,
          provisioned: 5000,
          utilised: 0,
          objects: 0,
          suspended: false,
          history_depth: 0,
          history_bytes: 0,
          rate_limit_rps: null,
          rate_limit_burst: null,
          read_only: false,
          created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        });
        const got = await request(h.app).get(`/api/admin/tenants/${res.body.id}`).set(asAdmin).expect(200);
        expect(got.body).toEqual(res.body);
        const login = await request(h.app).post('/api/auth/login').send({ user_name: name, password: 'pw-123456' });
        expect(login.status).toBe(200);
        const dup = await request(h.app)
          .post('/api/admin/tenants')
          .set(asAdmin)
          .send({ user_name: name, provisioned_capacity: 1 })
          .expect(409);
        expect(dup.body.message).toBe('user already exists');
      });

      it('validates bodies and ids', async () => {
        await request(h.app).post('/api/admin/tenants').set(asAdmin).send({ user_name: 'x' }).expect(400);
        await request(h.app)
          .post('/api/admin/tenants')
          .set(asAdmin)
          .send({ user_name: 'x', provisioned_capacity: -1 })
          .expect(400);
        await request(h.app)
          .post('/api/admin/tenants')
          .set(asAdmin)
          .send({ user_name: 'x', provisioned_capacity: 1, extra: true })
          .expect(400);
        await request(h.app).get('/api/admin/tenants/abc').set(asAdmin).expect(400);
        await request(h.app).get('/api/admin/tenants/999999999').set(asAdmin).expect(404);
        await request(h.app).patch('/api/admin/tenants/999999999').set(asAdmin).send({ suspended: true }).expect(404);
        await request(h.app).delete('/api/admin/tenants/999999999').set(asAdmin).expect(404);
        const t = await createTenant();
        await request(h.app).patch(`/api/admin/tenants/${t.id}`).set(asAdmin).send({}).expect(400);
        await request(h.app).get('/api/admin/tenants?limit=0').set(asAdmin).expect(400);
        await request(h.app).get('/api/admin/tenants?limit=501').set(asAdmin).expect(400);
        const bad = await request(h.app).get('/api/admin/tenants?cursor=bogus').set(asAdmin).expect(400);
        expect(bad.body.code).toBe('INVALID_CURSOR');
      });

      it('pages through more than one page in a stable order, filtered by prefix', async () => {
        const prefix = uniqueName('page');
        const ids: number[] = [];
        for (let i = 0; i < 7; i++) ids.push((await createTenant({ user_name: `${prefix}-${i}` })).id);
        await createTenant({ user_name: uniqueName('other') });
        const seen: number[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query: string = `limit=3&prefix=${encodeURIComponent(prefix)}${cursor ? `&cursor=${cursor}` : ''}`;
          const res = await request(h.app).get(`/api/admin/tenants?${query}`).set(asAdmin).expect(200);
          expect(res.body.tenants.length).toBeLessThanOrEqual(3);
          seen.push(...res.body.tenants.map((t: { id: number }) => t.id));
          cursor = res.body.next_cursor;
          pages++;
        } while (cursor !== null);
        expect(pages).toBe(3);
        expect(seen).toEqual(ids);
      });

      it('treats LIKE wildcards in a prefix literally', async () => {
        const base = uniqueName('wild');
        await createTenant({ user_name: `${base}_x` });
        await createTenant({ user_name: `${base}ax` });
        const res = await request(h.app)
          .get(`/api/admin/tenants?prefix=${encodeURIComponent(`${base}_`)}`)
          .set(asAdmin)
          .expect(200);
        expect(res.body.tenants.map((t: { user_name: string }) => t.user_name)).toEqual([`${base}_x`]);
      });

      it('lowers a quota below usage: reads, deletes and shrinking still work, growth is refused', async () => {
        const t = await makeTenant(h, 1000);
        await request(h.app)
          .post('/api/object')
          .set(t.auth)
          .send({ key: 'big', value: 'x'.repeat(398) })
          .expect(201);
        await request(h.app)
          .post('/api/object')
          .set(t.auth)
          .send({ key: 'other', value: 'y'.repeat(98) })
          .expect(201);
        expect((await ledger(h, t.id)).utilised).toBe(500);
        const patched = await request(h.app)
          .patch(`/api/admin/tenants/${t.id}`)
          .set(asAdmin)
          .send({ provisioned_capacity: 100 })
          .expect(200);
        expect(patched.body).toMatchObject({ provisioned: 100, utilised: 500, objects: 2 });

        await request(h.app).get('/api/object/big').set(t.auth).expect(200);
        const grow = await request(h.app).post('/api/object').set(t.auth).send({ key: 'new', value: 1 }).expect(403);
        expect(grow.body).toMatchObject({ message: 'quota exceeded', code: 'QUOTA_EXCEEDED' });
        await request(h.app)
          .post('/api/object')
          .set(t.auth)
          .send({ key: 'big', value: 'x'.repeat(399) })
          .expect(403);
        await request(h.app)
          .post('/api/object')
          .set(t.auth)
          .send({ key: 'big', value: 'x'.repeat(10) })
          .expect(201);
        await request(h.app).delete('/api/object/other').set(t.auth).expect(204);
        expect(await ledger(h, t.id)).toMatchObject({ utilised: 12, storedBytes: 12, objectCount: 1 });
        await request(h.app)
          .post('/api/object')
          .set(t.auth)
          .send({ key: 'new', value: 'z'.repeat(80) })
          .expect(201);
        expect(await ledger(h, t.id)).toMatchObject({ utilised: 94, storedBytes: 94 });
      });
    });

    describe('suspension and revocation', () => {
      it('suspends: logins and every object request get 403 "tenant suspended"; resume restores API tokens', async () => {
        const name = uniqueName('susp');
        const created = await createTenant({ user_name: name, password: 'pw-suspend' });
        const login = await request(h.app).post('/api/auth/login').send({ user_name: name, password: 'pw-suspend' });
        const loginAuth = { Authorization: `Bearer ${login.body.token}` };
        const api = await createToken(created.id, ['read', 'write']);
        const apiAuth = { Authorization: `Bearer ${api.token}` };
        await request(h.app).post('/api/object').set(loginAuth).send({ key: 'k', value: 1 }).expect(201);

        await request(h.app)
          .patch(`/api/admin/tenants/${created.id}`)
          .set(asAdmin)
          .send({ suspended: true })
          .expect(200);
        for (const auth of [loginAuth, apiAuth]) {
          const get = await request(h.app).get('/api/object/k').set(auth).expect(403);
          expect(get.body).toMatchObject({ message: 'tenant suspended', code: 'TENANT_SUSPENDED', status_code: 403 });
          await request(h.app).post('/api/object').set(auth).send({ key: 'k', value: 2 }).expect(403);
          await request(h.app).delete('/api/object/k').set(auth).expect(403);
          await request(h.app)
            .post('/api/batch/object')
            .set(auth)
            .send([{ key: 'b', value: 1 }])
            .expect(403);
          await request(h.app).get('/api/quota').set(auth).expect(403);
        }
        const refused = await request(h.app)
          .post('/api/auth/login')
          .send({ user_name: name, password: 'pw-suspend' })
          .expect(403);
        expect(refused.body.message).toBe('tenant suspended');

        await request(h.app)
          .patch(`/api/admin/tenants/${created.id}`)
          .set(asAdmin)
          .send({ suspended: false })
          .expect(200);
        await request(h.app).get('/api/object/k').set(apiAuth).expect(200);
        // The suspension revoked the login token issued before it.
        await request(h.app).get('/api/object/k').set(loginAuth).expect(401);
        const again = await request(h.app).post('/api/auth/login').send({ user_name: name, password: 'pw-suspend' });
        await request(h.app)
          .get('/api/object/k')
          .set({ Authorization: `Bearer ${again.body.token}` })
          .expect(200);
      });

      it('a password change revokes login tokens and takes the new password', async () => {
        const name = uniqueName('pw');
        const created = await createTenant({ user_name: name, password: 'old-password' });
        const login = await request(h.app).post('/api/auth/login').send({ user_name: name, password: 'old-password' });
        await request(h.app).get('/api/quota').set({ Authorization: login.body.token }).expect(200);
        await request(h.app)
          .patch(`/api/admin/tenants/${created.id}`)
          .set(asAdmin)
          .send({ password: 'new-password' })
          .expect(200);
        await request(h.app).get('/api/quota').set({ Authorization: login.body.token }).expect(401);
        await request(h.app).post('/api/auth/login').send({ user_name: name, password: 'old-password' }).expect(400);
        await request(h.app).post('/api/auth/login').send({ user_name: name, password: 'new-password' }).expect(200);
      });

      it('reaches another instance on its next poll, and no sooner needs a database read per request', async () => {
        // Another instance on the same database: its own container, so its own access cache.
        const otherInstance = await harness(target, { env: ADMIN_ENV, clock: h.clock });
        const { app: otherApp } = otherInstance;
        const other = otherInstance.container.access;
        const created = await createTenant();
        const api = await createToken(created.id, ['read']);
        const auth = { Authorization: `Bearer ${api.token}` };
        await request(otherApp).get('/api/quota').set(auth).expect(200);

        await request(h.app)
          .patch(`/api/admin/tenants/${created.id}`)
          .set(asAdmin)
          .send({ suspended: true })
          .expect(200);
        // The other instance answers from its cache until it polls...
        await request(otherApp).get('/api/quota').set(auth).expect(200);
        await other.refresh();
        await request(otherApp).get('/api/quota').set(auth).expect(403);

        await request(h.app)
          .patch(`/api/admin/tenants/${created.id}`)
          .set(asAdmin)
          .send({ suspended: false })
          .expect(200);
        await other.refresh();
        await request(otherApp).get('/api/quota').set(auth).expect(200);

        await request(h.app).delete(`/api/admin/tenants/${created.id}/tokens/${api.id}`).set(asAdmin).expect(204);
        await other.refresh();
        await request(otherApp).get('/api/quota').set(auth).expect(401);
      });
    });

    describe('without the access cache (AUTH_CACHE_SECONDS=0)', () => {
      it('answers every request from the database: suspension and revocation apply at once, on every instance', async () => {
        const uncached = await harness(target, { env: { ...ADMIN_ENV, AUTH_CACHE_SECONDS: '0' } });
        try {
          const created = await createTenant();
          const api = await createToken(created.id, ['read', 'write']);
          const auth = { Authorization: `Bearer ${api.token}` };
          await request(uncached.app).post('/api/object').set(auth).send({ key: 'k', value: 1 }).expect(201);
          await request(uncached.app).get('/api/object/k').set(auth).expect(200);
          // The change is made through the other app: no poll, no forgetting, and still seen at once.
          await request(h.app)
            .patch(`/api/admin/tenants/${created.id}`)
            .set(asAdmin)
            .send({ suspended: true })
            .expect(200);
          await request(uncached.app).get('/api/object/k').set(auth).expect(403);
          await request(h.app)
            .patch(`/api/admin/tenants/${created.id}`)
            .set(asAdmin)
            .send({ suspended: false })
            .expect(200);
          await request(uncached.app).get('/api/object/k').set(auth).expect(200);
          await request(h.app).delete(`/api/admin/tenants/${created.id}/tokens/${api.id}`).set(asAdmin).expect(204);
          await request(uncached.app).get('/api/object/k').set(auth).expect(401);
        } finally {
          await uncached.close();
        }
      });
    });

    describe('API tokens', () => {
      it('issues read-only tokens that can read and are refused every write and delete', async () => {
        const created = await createTenant();
        const rw = await createToken(created.id, ['read', 'write'], { name: 'writer' });
        const ro = await createToken(created.id, ['read'], { expires_in: 3600 });
        expect(rw.scopes).toEqual(['read', 'write']);
        expect(ro.scopes).toEqual(['read']);
        expect(rw.expires_at).toBeNull();
        expect(Date.parse(ro.expires_at as string)).toBeGreaterThan(Date.now());
        const rwAuth = { Authorization: `Bearer ${rw.token}` };
        const roAuth = { Authorization: ro.token };
        await request(h.app).post('/api/object').set(rwAuth).send({ key: 'k', value: 'v' }).expect(201);
        const got = await request(h.app).get('/api/object/k').set(roAuth).expect(200);
        expect(got.body.value).toBe('v');
        await request(h.app).get('/api/quota').set(roAuth).expect(200);
        for (const res of [
          await request(h.app).post('/api/object').set(roAuth).send({ key: 'k', value: 'w' }),
          await request(h.app).delete('/api/object/k').set(roAuth),
          await request(h.app)
            .post('/api/batch/object')
            .set(roAuth)
            .send([{ key: 'x', value: 1 }]),
        ]) {
          expect(res.status).toBe(403);
          expect(res.body.code).toBe('INSUFFICIENT_SCOPE');
        }
        expect((await request(h.app).get('/api/object/k').set(roAuth)).body.value).toBe('v');
      });

      it('lists tokens without secrets and revokes one', async () => {
        const created = await createTenant();
        const a = await createToken(created.id, ['read'], { name: 'a' });
        const b = await createToken(created.id, ['read', 'write'], { name: 'b' });
        const list = await request(h.app).get(`/api/admin/tenants/${created.id}/tokens`).set(asAdmin).expect(200);
        expect(list.body.tokens.map((t: { id: string }) => t.id).sort()).toEqual([a.id, b.id].sort());
        expect(JSON.stringify(list.body)).not.toContain(a.token);
        expect(list.body.tokens[0]).not.toHaveProperty('token');

        await request(h.app).delete(`/api/admin/tenants/${created.id}/tokens/${a.id}`).set(asAdmin).expect(204);
        await request(h.app).get('/api/quota').set({ Authorization: a.token }).expect(401);
        await request(h.app).get('/api/quota').set({ Authorization: b.token }).expect(200);
        await request(h.app).delete(`/api/admin/tenants/${created.id}/tokens/${a.id}`).set(asAdmin).expect(404);
        const after = await request(h.app).get(`/api/admin/tenants/${created.id}/tokens`).set(asAdmin).expect(200);
        expect(after.body.tokens.map((t: { id: string }) => t.id)).toEqual([b.id]);
      });

      it('refuses bad token requests', async () => {
        const created = await createTenant();
        for (const body of [
          {},
          { scopes: [] },
          { scopes: ['write'] },
          { scopes: ['admin'] },
          { scopes: ['read'], expires_in: 0 },
        ]) {
          await request(h.app).post(`/api/admin/tenants/${created.id}/tokens`).set(asAdmin).send(body).expect(400);
        }
        await request(h.app)
          .post('/api/admin/tenants/999999999/tokens')
          .set(asAdmin)
          .send({ scopes: ['read'] })
          .expect(404);
        await request(h.app).delete(`/api/admin/tenants/${created.id}/tokens/not-a-token`).set(asAdmin).expect(400);
      });

      it('a tenant without a password cannot log in but works with API tokens', async () => {
        const created = await createTenant({ password: undefined });
        const res = await request(h.app)
          .post('/api/auth/login')
          .send({ user_name: created.user_name, password: 'anything' })
          .expect(400);
        expect(res.body.message).toBe('invalid username/password');
        const api = await createToken(created.id, ['read', 'write']);
        await request(h.app)
          .post('/api/object')
          .set({ Authorization: api.token })
          .send({ key: 'k', value: 1 })
          .expect(201);
      });
    });

    describe('deletion', () => {
      it('removes every object in chunks and every token; tokens stop working at once', async () => {
        const small = await harness(target, { env: { ...ADMIN_ENV, PURGE_CHUNK_ROWS: '7' } });
        try {
          const created = await createTenant({ provisioned_capacity: 1_000_000 });
          const api = await createToken(created.id, ['read', 'write']);
          const auth = { Authorization: `Bearer ${api.token}` };
          const items = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: i }));
          await request(small.app).post('/api/batch/object').set(auth).send(items).expect(201);
          const bystander = await makeTenant(h);
          await request(h.app).post('/api/object').set(bystander.auth).send({ key: 'k1', value: 'mine' }).expect(201);

          await request(small.app).delete(`/api/admin/tenants/${created.id}`).set(asAdmin).expect(204);
          await request(small.app).get('/api/object/k1').set(auth).expect(401);
          await request(small.app).post('/api/object').set(auth).send({ key: 'z', value: 1 }).expect(401);
          await request(small.app).get(`/api/admin/tenants/${created.id}`).set(asAdmin).expect(404);
          expect(await h.db.knex('objects').where('tenant_id', created.id).count({ n: '*' })).toEqual([{ n: 0 }]);
          expect(await h.db.knex('api_tokens').where('tenant_id', created.id).count({ n: '*' })).toEqual([{ n: 0 }]);
          // The row stays as a renamed tombstone, so that other instances' polls see the deletion.
          const tombstone = await h.db.knex('tenants').first('deleted', 'user_name').where('id', created.id);
          expect(Boolean(tombstone.deleted)).toBe(true);
          expect(tombstone.user_name).not.toBe(created.user_name);
          const kept = await request(h.app).get('/api/object/k1').set(bystander.auth).expect(200);
          expect(kept.body.value).toBe('mine');
          // The name is free again.
          await createTenant({ user_name: created.user_name });
        } finally {
          await small.close();
        }
      });

      it('a deletion cut short is finished by repeating the DELETE', async () => {
        const created = await createTenant({ provisioned_capacity: 1_000_000 });
        const api = await createToken(created.id, ['read', 'write']);
        await request(h.app)
          .post('/api/batch/object')
          .set({ Authorization: api.token })
          .send([
            { key: 'a', value: 1 },
            { key: 'b', value: 2 },
          ])
          .expect(201);
        // What the first step leaves behind when the process dies right after it.
        await h.db.transaction((sql) => new TenantRepository(sql).markDeleted(created.id, Date.now()));
        await request(h.app).get(`/api/admin/tenants/${created.id}`).set(asAdmin).expect(404);
        await request(h.app).delete(`/api/admin/tenants/${created.id}`).set(asAdmin).expect(204);
        expect(await h.db.knex('objects').where('tenant_id', created.id).count({ n: '*' })).toEqual([{ n: 0 }]);
        expect(await h.db.knex('api_tokens').where('tenant_id', created.id).count({ n: '*' })).toEqual([{ n: 0 }]);
      });

      it('another instance that cached the tenant refuses it after its next poll, even once deletion is done', async () => {
        const otherInstance = await harness(target, { env: ADMIN_ENV, clock: h.clock });
        const { app: otherApp } = otherInstance;
        const other = otherInstance.container.access;
        const created = await createTenant();
        const api = await createToken(created.id, ['read', 'write']);
        await request(otherApp).get('/api/object/missing').set({ Authorization: api.token }).expect(404);
        await request(h.app).delete(`/api/admin/tenants/${created.id}`).set(asAdmin).expect(204);
        await other.refresh();
        await request(otherApp).get('/api/object/missing').set({ Authorization: api.token }).expect(401);
        await request(otherApp).delete('/api/object/missing').set({ Authorization: api.token }).expect(401);
      });

      it('sweeps tombstones an hour after their deletion', async () => {
        const created = await createTenant();
        await request(h.app).delete(`/api/admin/tenants/${created.id}`).set(asAdmin).expect(204);
        const repo = new TenantRepository(h.db.sql);
        await repo.sweepTombstones(Date.now() - 60 * 60 * 1000);
        expect(await h.db.knex('tenants').where('id', created.id).count({ n: '*' })).toEqual([{ n: 1 }]);
        await repo.sweepTombstones(Date.now() + 1000);
        expect(await h.db.knex('tenants').where('id', created.id).count({ n: '*' })).toEqual([{ n: 0 }]);
      });

      it('a login token of a deleted tenant is refused', async () => {
        const name = uniqueName('del');
        const created = await createTenant({ user_name: name, password: 'pw-deleted' });
        const login = await request(h.app).post('/api/auth/login').send({ user_name: name, password: 'pw-deleted' });
        await request(h.app).delete(`/api/admin/tenants/${created.id}`).set(asAdmin).expect(204);
        await request(h.app).get('/api/quota').set({ Authorization: login.body.token }).expect(401);
        await request(h.app).post('/api/auth/login').send({ user_name: name, password: 'pw-deleted' }).expect(400);
      });
    });
  },
  { env: ADMIN_ENV },
);
