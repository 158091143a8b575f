import { createLogger } from '../../../src/platform/logger';
import { PurgeRepository, PurgeService } from '../../../src/features/purge';
import {
  api,
  describeTargets,
  expectError,
  expectLedgerExact,
  harness,
  makeTenant,
  request,
  storedKeys,
  uniqueName,
  writeExpiredInDb,
  type Harness,
  type TestTenant,
} from '../../support/harness';

const ADMIN_KEY = 'read-only-test-admin-key-0123456789';
const asAdmin = { Authorization: `Bearer ${ADMIN_KEY}` };

/** Every kind of tenant write, each of which must be refused in read-only mode and write nothing. */
function everyWrite(h: Harness, t: TestTenant): [string, () => request.Test][] {
  return [
    ['put', () => api(h, t).put('new', 'v')],
    ['overwrite', () => api(h, t).put('kept', 'changed')],
    ['delete', () => api(h, t).del('kept')],
    [
      'batch put',
      () =>
        request(h.app)
          .post('/api/batch/object')
          .set(t.auth)
          .send([{ key: 'b', value: 1 }]),
    ],
    [
      'batch delete',
      () =>
        request(h.app)
          .post('/api/batch/delete')
          .set(t.auth)
          .send({ keys: ['kept'] }),
    ],
    ['prefix delete', () => request(h.app).delete('/api/objects?prefix=k').set(t.auth)],
    ['history delete', () => request(h.app).delete('/api/object/kept/history').set(t.auth)],
  ];
}

describeTargets(
  'read-only mode',
  (h, target) => {
    const setReadOnly = (id: number, readOnly: boolean) =>
      request(h.app).patch(`/api/admin/tenants/${id}`).set(asAdmin).send({ read_only: readOnly }).expect(200);

    it('refuses every write of a read-only tenant with 403 READ_ONLY and writes nothing; reads go on', async () => {
      const t = await makeTenant(h);
      const other = await makeTenant(h);
      await api(h, t).put('kept', 'v').expect(201);
      const before = await expectLedgerExact(h, t.id);
      expect((await setReadOnly(t.id, true)).body).toMatchObject({ id: t.id, read_only: true });

      for (const [name, write] of everyWrite(h, t)) {
        const res = await write();
        expect({ name, status: res.status, code: res.body.code }).toEqual({ name, status: 403, code: 'READ_ONLY' });
      }
      expectError(await api(h, t).put('x', 1), 403, 'READ_ONLY', /read-only/);
      expect(await expectLedgerExact(h, t.id)).toEqual(before);
      expect(await storedKeys(h, t.id)).toEqual(['kept']);

      expect((await api(h, t).get('kept').expect(200)).body.value).toBe('v');
      await request(h.app).get('/api/objects').set(t.auth).expect(200);
      await request(h.app)
        .post('/api/batch/get')
        .set(t.auth)
        .send({ keys: ['kept'] })
        .expect(200);
      await api(h, t).quota().expect(200);
      // Another tenant is not affected.
      await api(h, other).put('k', 'v').expect(201);

      await setReadOnly(t.id, false);
      await api(h, t).put('new', 'v').expect(201);
    });

    it('answers a read-scope token on a write with INSUFFICIENT_SCOPE, read-only or not', async () => {
      const created = await request(h.app)
        .post('/api/admin/tenants')
        .set(asAdmin)
        .send({ user_name: uniqueName('ro'), provisioned_capacity: 1000, read_only: true })
        .expect(201);
      expect(created.body.read_only).toBe(true);
      const token = await request(h.app)
        .post(`/api/admin/tenants/${created.body.id}/tokens`)
        .set(asAdmin)
        .send({ scopes: ['read'] })
        .expect(201);
      const res = await request(h.app)
        .post('/api/object')
        .set({ Authorization: `Bearer ${token.body.token}` })
        .send({ key: 'k', value: 1 });
      expectError(res, 403, 'INSUFFICIENT_SCOPE');
    });

    it('with AUTH_CACHE_SECONDS=0 reads the mode from the database on every write', async () => {
      const uncached = await harness(target, { env: { ADMIN_API_KEYS: ADMIN_KEY, AUTH_CACHE_SECONDS: '0' } });
      try {
        const t = await makeTenant(uncached);
        await api(uncached, t).put('k', 1).expect(201);
        // Through another process's view: nothing tells this one, and it caches nothing.
        await setReadOnly(t.id, true);
        expectError(await api(uncached, t).put('k', 2), 403, 'READ_ONLY');
        await setReadOnly(t.id, false);
        await api(uncached, t).put('k', 2).expect(201);
      } finally {
        await uncached.close();
      }
    });

    describe('the purge leaves a read-only tenant alone', () => {
      const purgeService = () =>
        new PurgeService(
          h.config,
          h.db,
          h.container.pipeline,
          new PurgeRepository(h.db),
          createLogger(h.config),
          h.clock,
        );

      it('in process: purges the others, then the tenant once the mode is lifted', async () => {
        const frozen = await makeTenant(h);
        const other = await makeTenant(h);
        const soon = h.clock.nowSeconds() + 50;
        for (const t of [frozen, other]) {
          await api(h, t).put('stays', 'v').expect(201);
          await api(h, t).put('expires', 'v', soon).expect(201);
        }
        await setReadOnly(frozen.id, true);
        // Expired for the app only (its clock runs ahead): the MySQL EVENT, on database time, cannot race this.
        h.clock.offsetSeconds = 100;
        await purgeService().runOnce();
        expect(await storedKeys(h, other.id)).toEqual(['stays']);
        expect(await storedKeys(h, frozen.id)).toEqual(['expires', 'stays']);
        // Expired objects are never served, frozen or not.
        expectError(await api(h, frozen).get('expires'), 404, 'OBJECT_NOT_FOUND');
        await setReadOnly(frozen.id, false);
        await purgeService().runOnce();
        expect(await storedKeys(h, frozen.id)).toEqual(['stays']);
        await expectLedgerExact(h, frozen.id);
      });

      if (target === 'mysql') {
        it('by the EVENT’s procedure too', async () => {
          const frozen = await makeTenant(h);
          const other = await makeTenant(h);
          await writeExpiredInDb(h, async (ttl) => {
            for (const t of [frozen, other]) await api(h, t).put('expired', 'v', ttl).expect(201);
          });
          await setReadOnly(frozen.id, true);
          await new PurgeRepository(h.db).callPurgeProcedure(1000);
          expect(await storedKeys(h, other.id)).toEqual([]);
          expect(await storedKeys(h, frozen.id)).toEqual(['expired']);
          await setReadOnly(frozen.id, false);
          await new PurgeRepository(h.db).callPurgeProcedure(1000);
          expect(await storedKeys(h, frozen.id)).toEqual([]);
          await expectLedgerExact(h, frozen.id);
        });
      }
    });

    describe('READ_ONLY=true: the whole instance in maintenance', () => {
      it('answers every tenant write and registration 503 SERVICE_READ_ONLY with Retry-After; reads, logins and admin go on', async () => {
        const t = await makeTenant(h);
        await api(h, t).put('kept', 'v').expect(201);
        const before = await expectLedgerExact(h, t.id);
        const maintenance = await harness(target, { env: { ADMIN_API_KEYS: ADMIN_KEY, READ_ONLY: 'true' } });
        try {
          for (const [name, write] of everyWrite(maintenance, t)) {
            const res = await write();
            expect({ name, status: res.status, code: res.body.code, retry: res.headers['retry-after'] }).toEqual({
              name,
              status: 503,
              code: 'SERVICE_READ_ONLY',
              retry: '60',
            });
          }
          const registered = await request(maintenance.app)
            .post('/api/auth/register')
            .send({ user_name: uniqueName('ro'), password: 'pw-123456' });
          expectError(registered, 503, 'SERVICE_READ_ONLY');
          expect(await expectLedgerExact(h, t.id)).toEqual(before);
          expect((await api(maintenance, t).get('kept').expect(200)).body.value).toBe('v');
          await request(maintenance.app).get('/api/objects').set(t.auth).expect(200);
          const admin = await request(maintenance.app)
            .post('/api/admin/tenants')
            .set(asAdmin)
            .send({ user_name: uniqueName('ro'), password: 'pw-123456', provisioned_capacity: 10 })
            .expect(201);
          await request(maintenance.app)
            .post('/api/auth/login')
            .send({ user_name: admin.body.user_name, password: 'pw-123456' })
            .expect(200);
        } finally {
          await maintenance.close();
        }
      });
    });
  },
  { env: { ADMIN_API_KEYS: ADMIN_KEY } },
);
