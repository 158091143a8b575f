import type mysql from 'mysql2/promise';
import { createLogger } from '../../../src/platform/logger';
import { PURGE_PROCEDURE_NAME, PurgeRepository, PurgeService } from '../../../src/features/purge';
import type { Config } from '../../../src/platform/config';
import {
  api,
  describeTargets,
  expectError,
  expectLedgerExact,
  listen,
  makeTenant,
  objectPath,
  request,
  valueOfSize,
  writeExpiredInDb,
  storedKeys as storedKeysOf,
  type TestTenant,
} from '../../support/harness';
import { TEST_MYSQL_URL } from '../../support/targets';
import { serverConnection } from '../../support/mysql-admin';

describeTargets('ttl and purge', (h, target) => {
  const storedKeys = (t: TestTenant): Promise<string[]> => storedKeysOf(h, t.id);
  const purgeService = (config: Partial<Config> = {}) =>
    new PurgeService(
      { ...h.config, ...config },
      h.db,
      h.container.pipeline,
      new PurgeRepository(h.db),
      createLogger(h.config),
      h.clock,
    );

  describe('expiry', () => {
    it('returns an object until its ttl second, and never from then on', async () => {
      const t = await makeTenant(h);
      const ttl = h.clock.freeze() + 10;
      await api(h, t).put('k', 'v', ttl).expect(201);
      h.clock.offsetSeconds = 9;
      expect((await api(h, t).get('k').expect(200)).body).toMatchObject({ key: 'k', value: 'v', ttl });
      h.clock.offsetSeconds = 10;
      expectError(await api(h, t).get('k'), 404, 'OBJECT_NOT_FOUND', 'object not found');
      h.clock.offsetSeconds = 1e6;
      expectError(await api(h, t).get('k'), 404, 'OBJECT_NOT_FOUND');
    });

    it('keeps charging an expired object until it is purged, reclaimed, overwritten or deleted', async () => {
      const t = await makeTenant(h);
      await api(h, t)
        .put('k', valueOfSize(100), h.clock.nowSeconds() + 5)
        .expect(201);
      h.clock.offsetSeconds = 10;
      expectError(await api(h, t).get('k'), 404);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 100, objectCount: 1 });
    });

    it('overwrites an expired object, charging the difference only', async () => {
      const t = await makeTenant(h);
      await api(h, t)
        .put('k', valueOfSize(100), h.clock.nowSeconds() + 5)
        .expect(201);
      h.clock.offsetSeconds = 10;
      await api(h, t).put('k', valueOfSize(30)).expect(201);
      expect((await api(h, t).get('k').expect(200)).body).toMatchObject({ key: 'k', value: valueOfSize(30), ttl: 0 });
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 30, objectCount: 1 });
    });

    it('deletes an expired object with 204 and refunds it', async () => {
      const t = await makeTenant(h);
      await api(h, t)
        .put('k', valueOfSize(100), h.clock.nowSeconds() + 5)
        .expect(201);
      h.clock.offsetSeconds = 10;
      await request(h.app).delete(objectPath('k')).set(t.auth).expect(204);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
    });

    it('overwrites expired objects in a batch with an exact ledger', async () => {
      const t = await makeTenant(h);
      const soon = h.clock.nowSeconds() + 5;
      await request(h.app)
        .post('/api/batch/object')
        .set(t.auth)
        .send([
          { key: 'a', value: valueOfSize(50), ttl: soon },
          { key: 'b', value: valueOfSize(60), ttl: soon },
        ])
        .expect(201);
      h.clock.offsetSeconds = 10;
      await request(h.app)
        .post('/api/batch/object')
        .set(t.auth)
        .send([
          { key: 'a', value: valueOfSize(10) },
          { key: 'c', value: valueOfSize(20) },
        ])
        .expect(201);
      expectError(await api(h, t).get('b'), 404);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 90, objectCount: 3 });
    });
  });

  describe('reclaim before refusing for quota', () => {
    it('lets a full tenant whose objects expired write again', async () => {
      const t = await makeTenant(h, 1000);
      const soon = h.clock.nowSeconds() + 5;
      for (let i = 0; i < 4; i++) await api(h, t).put(`old${i}`, valueOfSize(250), soon).expect(201);
      expectError(await api(h, t).put('new', 1), 403, 'QUOTA_EXCEEDED');
      h.clock.offsetSeconds = 10;
      await api(h, t).put('new', valueOfSize(1000)).expect(201);
      expect(await storedKeys(t)).toEqual(['new']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 1000, objectCount: 1 });
    });

    it('reclaims objects already expired in the database', async () => {
      const t = await makeTenant(h, 1000);
      await writeExpiredInDb(h, (ttl) => api(h, t).put('old', valueOfSize(900), ttl).expect(201));
      expectError(await api(h, t).get('old'), 404);
      await api(h, t).put('new', valueOfSize(900)).expect(201);
      expect(await storedKeys(t)).toEqual(['new']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 900, objectCount: 1 });
    });

    it('keeps the reclaim but still refuses, writing nothing, when the expired bytes are not enough', async () => {
      const t = await makeTenant(h, 1000);
      await api(h, t).put('keep', valueOfSize(500)).expect(201);
      await api(h, t)
        .put('old', valueOfSize(300), h.clock.nowSeconds() + 5)
        .expect(201);
      h.clock.offsetSeconds = 10;
      expectError(await api(h, t).put('new', valueOfSize(501)), 403, 'QUOTA_EXCEEDED', 'quota exceeded');
      expect(await storedKeys(t)).toEqual(['keep']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 500, objectCount: 1 });
      await api(h, t).put('new', valueOfSize(500)).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 1000, objectCount: 2 });
    });

    it('reclaims for a batch, and an overwrite of an expired key in the batch is charged right', async () => {
      const t = await makeTenant(h, 1000);
      const soon = h.clock.nowSeconds() + 5;
      await api(h, t).put('a', valueOfSize(400), soon).expect(201);
      await api(h, t).put('b', valueOfSize(400), soon).expect(201);
      await api(h, t).put('keep', valueOfSize(100)).expect(201);
      h.clock.offsetSeconds = 10;
      await request(h.app)
        .post('/api/batch/object')
        .set(t.auth)
        .send([
          { key: 'a', value: valueOfSize(450) },
          { key: 'c', value: valueOfSize(450) },
        ])
        .expect(201);
      expect(await storedKeys(t)).toEqual(['a', 'c', 'keep']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 1000, objectCount: 3 });
    });

    it('reclaims thousands of expired objects in chunks before deciding', async () => {
      const t = await makeTenant(h, 30_000);
      const soon = h.clock.nowSeconds() + 5;
      const items = Array.from({ length: 2500 }, (_, i) => ({ key: `e${i}`, value: 1234567, ttl: soon }));
      await request(h.app).post('/api/batch/object').set(t.auth).send(items).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 17500, objectCount: 2500 });
      h.clock.offsetSeconds = 10;
      await api(h, t).put('big', valueOfSize(16384)).expect(201);
      expect(await storedKeys(t)).toEqual(['big']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 16384, objectCount: 1 });
    });

    it('does not reclaim when the write fits anyway (expired objects wait for the purge)', async () => {
      const t = await makeTenant(h, 1000);
      await api(h, t)
        .put('old', valueOfSize(100), h.clock.nowSeconds() + 5)
        .expect(201);
      h.clock.offsetSeconds = 10;
      await api(h, t).put('new', valueOfSize(100)).expect(201);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 200, objectCount: 2 });
    });
  });

  describe('in-process purge (PurgeService.runOnce)', () => {
    // The app's clock runs ahead: rows are expired for the app only, so the MySQL EVENT (database time)
    // cannot race these tests.
    it('removes expired objects of every tenant and refunds them exactly', async () => {
      const t1 = await makeTenant(h);
      const t2 = await makeTenant(h);
      const now = h.clock.nowSeconds();
      for (const t of [t1, t2]) {
        await api(h, t).put('never', valueOfSize(10)).expect(201);
        await api(h, t)
          .put('later', valueOfSize(20), now + 1000)
          .expect(201);
        await api(h, t)
          .put('soon1', valueOfSize(30), now + 50)
          .expect(201);
        await api(h, t)
          .put('soon2', valueOfSize(40), now + 60)
          .expect(201);
      }
      h.clock.offsetSeconds = 100;
      const removed = await purgeService().runOnce();
      expect(removed).toBeGreaterThanOrEqual(4);
      for (const t of [t1, t2]) {
        expect(await storedKeys(t)).toEqual(['later', 'never']);
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 30, objectCount: 2 });
        expect((await request(h.app).get('/api/quota').set(t.auth).expect(200)).body.utilised).toBe(30);
      }
      expect(await purgeService().runOnce()).toBe(0);
    });

    it('purges in chunks of PURGE_CHUNK_ROWS until nothing expired is left', async () => {
      const t = await makeTenant(h);
      const soon = h.clock.nowSeconds() + 5;
      const items = Array.from({ length: 53 }, (_, i) => ({ key: `e${i}`, value: i, ttl: soon + (i % 3) }));
      await request(h.app).post('/api/batch/object').set(t.auth).send(items).expect(201);
      await api(h, t).put('stay', 'here').expect(201);
      h.clock.offsetSeconds = 100;
      expect(await purgeService({ purgeChunkRows: 7 }).runOnce()).toBeGreaterThanOrEqual(53);
      expect(await storedKeys(t)).toEqual(['stay']);
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 6, objectCount: 1 });
    });

    it('never refunds the bytes of an expiring object that was overwritten with a lasting value', async () => {
      const t = await makeTenant(h);
      const soon = h.clock.nowSeconds() + 5;
      await api(h, t).put('k', valueOfSize(100), soon).expect(201);
      await api(h, t).put('k', valueOfSize(300)).expect(201);
      await api(h, t).put('k2', valueOfSize(100), soon).expect(201);
      await api(h, t)
        .put('k2', valueOfSize(50), soon + 1000)
        .expect(201);
      h.clock.offsetSeconds = 100;
      await purgeService().runOnce();
      expect((await api(h, t).get('k').expect(200)).body.value).toBe(valueOfSize(300));
      expect((await api(h, t).get('k2').expect(200)).body.value).toBe(valueOfSize(50));
      expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 350, objectCount: 2 });
    });

    it('stays exact when purges race overwrites, deletes and reclaiming writes', async () => {
      const server = await listen(h);
      try {
        const tenants = await Promise.all([makeTenant(h, 5000), makeTenant(h, 5000), makeTenant(h, 5000)]);
        const soon = h.clock.nowSeconds() + 5;
        for (const t of tenants) {
          const items = Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: valueOfSize(100), ttl: soon }));
          await request(h.app).post('/api/batch/object').set(t.auth).send(items).expect(201);
        }
        h.clock.offsetSeconds = 100;
        const service = purgeService({ purgeChunkRows: 3 });
        const calls: Promise<unknown>[] = [];
        for (const t of tenants) {
          for (let i = 0; i < 40; i++) {
            const api = request(server.url);
            if (i % 4 === 0) {
              calls.push(
                api
                  .post('/api/object')
                  .set(t.auth)
                  .send({ key: `k${i}`, value: valueOfSize(10 + i) }),
              );
            } else if (i % 4 === 1) calls.push(api.delete(objectPath(`k${i}`)).set(t.auth));
            else if (i % 4 === 2) {
              calls.push(
                api
                  .post('/api/object')
                  .set(t.auth)
                  .send({ key: `n${i}`, value: valueOfSize(120) }),
              );
            }
          }
          if (target === 'mysql') calls.push(service.runOnce(), service.runOnce());
          else calls.push(service.runOnce());
        }
        await Promise.all(calls);
        await service.runOnce();
        for (const t of tenants) {
          const keys = await storedKeys(t);
          for (let i = 0; i < 40; i++) {
            if (i % 4 === 0) {
              expect(keys).toContain(`k${i}`);
              expect((await api(h, t).get(`k${i}`).expect(200)).body.value).toBe(valueOfSize(10 + i));
            } else {
              expect(keys).not.toContain(`k${i}`);
            }
            if (i % 4 === 2) expect(keys).toContain(`n${i}`);
          }
          expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 20 });
        }
      } finally {
        await server.close();
      }
    });
  });

  if (target === 'mysql') {
    describe('MySQL EVENT mode', () => {
      let admin: mysql.Connection;
      let schedulerWas: string;
      beforeAll(async () => {
        admin = await serverConnection(TEST_MYSQL_URL, true);
        const [rows] = await admin.query('SELECT @@GLOBAL.event_scheduler AS state');
        schedulerWas = String((rows as { state: string }[])[0].state);
      });
      afterAll(async () => {
        await new PurgeRepository(h.db).ensureEvent(60, 1000);
        await admin.query(`SET GLOBAL event_scheduler = ${schedulerWas === 'ON' ? 'ON' : 'OFF'}`);
        await admin.end();
      });

      async function eventRow(): Promise<Record<string, unknown> | undefined> {
        const [rows] = await admin.query(
          `SELECT STATUS, INTERVAL_VALUE, INTERVAL_FIELD, EVENT_DEFINITION FROM information_schema.EVENTS
           WHERE EVENT_SCHEMA = DATABASE() AND EVENT_NAME = 'tenantkv_purge'`,
        );
        return (rows as Record<string, unknown>[])[0];
      }

      it('has the tenantkv_purge EVENT, enabled, calling the purge procedure this release expects', async () => {
        await new PurgeRepository(h.db).ensureEvent(60, 1000);
        const row = await eventRow();
        expect(row).toBeDefined();
        expect(row).toMatchObject({ STATUS: 'ENABLED', INTERVAL_FIELD: 'SECOND' });
        expect(String(row?.EVENT_DEFINITION)).toBe(`CALL ${PURGE_PROCEDURE_NAME}(1000, 1000)`);
        const [procs] = await admin.query(
          `SELECT ROUTINE_NAME FROM information_schema.ROUTINES
           WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME = ?`,
          [PURGE_PROCEDURE_NAME],
        );
        expect(procs).toHaveLength(1);
      });

      it('the procedure the EVENT runs removes expired rows and refunds them exactly', async () => {
        const t1 = await makeTenant(h);
        const t2 = await makeTenant(h);
        for (const t of [t1, t2]) {
          await writeExpiredInDb(h, async (ttl) => {
            await api(h, t).put('gone1', valueOfSize(30), ttl).expect(201);
            await api(h, t)
              .put('gone2', valueOfSize(40), ttl - 10)
              .expect(201);
          });
          await api(h, t).put('never', valueOfSize(10)).expect(201);
          await api(h, t)
            .put('later', valueOfSize(20), h.clock.nowSeconds() + 1000)
            .expect(201);
        }
        await new PurgeRepository(h.db).callPurgeProcedure(1000);
        for (const t of [t1, t2]) {
          expect(await storedKeys(t)).toEqual(['later', 'never']);
          expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 30, objectCount: 2 });
        }
      });

      it('the procedure purges in chunks and goes by the database clock', async () => {
        const t = await makeTenant(h);
        await writeExpiredInDb(h, async (ttl) => {
          const items = Array.from({ length: 25 }, (_, i) => ({ key: `e${i}`, value: i, ttl: ttl - (i % 4) }));
          await request(h.app).post('/api/batch/object').set(t.auth).send(items).expect(201);
        });
        // Expired for the app (its clock is ahead), not yet for the database: the procedure leaves it.
        await api(h, t)
          .put('app-only', 'x', h.clock.nowSeconds() + 100)
          .expect(201);
        await new PurgeRepository(h.db).callPurgeProcedure(4);
        expect(await storedKeys(t)).toEqual(['app-only']);
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 3, objectCount: 1 });
      });

      it('the procedure never refunds an object overwritten with a lasting value', async () => {
        const t = await makeTenant(h);
        await writeExpiredInDb(h, async (ttl) => {
          await api(h, t).put('k', valueOfSize(100), ttl).expect(201);
          await api(h, t).put('k2', valueOfSize(100), ttl).expect(201);
        });
        await api(h, t).put('k', valueOfSize(300)).expect(201);
        await api(h, t)
          .put('k2', valueOfSize(50), h.clock.nowSeconds() + 1000)
          .expect(201);
        await new PurgeRepository(h.db).callPurgeProcedure(1000);
        expect((await api(h, t).get('k').expect(200)).body.value).toBe(valueOfSize(300));
        expect((await api(h, t).get('k2').expect(200)).body.value).toBe(valueOfSize(50));
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 350, objectCount: 2 });
      });

      it('the procedure stays exact racing overwrites and deletes', async () => {
        const server = await listen(h);
        try {
          const t = await makeTenant(h, 100_000);
          await writeExpiredInDb(h, async (ttl) => {
            const items = Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: valueOfSize(100), ttl }));
            await request(h.app).post('/api/batch/object').set(t.auth).send(items).expect(201);
          });
          const purge = new PurgeRepository(h.db);
          const calls: Promise<unknown>[] = [purge.callPurgeProcedure(2)];
          for (let i = 0; i < 60; i++) {
            const api = request(server.url);
            if (i % 3 === 0) {
              calls.push(
                api
                  .post('/api/object')
                  .set(t.auth)
                  .send({ key: `k${i}`, value: valueOfSize(20 + i) }),
              );
            } else if (i % 3 === 1) calls.push(api.delete(objectPath(`k${i}`)).set(t.auth));
            if (i % 10 === 0) calls.push(purge.callPurgeProcedure(3));
          }
          await Promise.all(calls);
          await purge.callPurgeProcedure(1000);
          const keys = await storedKeys(t);
          expect(keys).toHaveLength(20);
          for (let i = 0; i < 60; i += 3)
            expect((await api(h, t).get(`k${i}`).expect(200)).body.value).toBe(valueOfSize(20 + i));
          expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 20 });
        } finally {
          await server.close();
        }
      });

      it('PurgeService.start() chooses the EVENT when the scheduler is on, and sets its interval', async () => {
        await admin.query('SET GLOBAL event_scheduler = ON');
        const service = purgeService({ purgeIntervalSeconds: 17 });
        try {
          expect(await service.start()).toBe('event');
          expect(service.mode).toBe('event');
          expect(await eventRow()).toMatchObject({ STATUS: 'ENABLED', INTERVAL_FIELD: 'SECOND' });
          expect(Number((await eventRow())?.INTERVAL_VALUE)).toBe(17);
          const again = purgeService({ purgeIntervalSeconds: 60 });
          expect(await again.start()).toBe('event');
          expect(Number((await eventRow())?.INTERVAL_VALUE)).toBe(60);
          await again.stop();
        } finally {
          await service.stop();
        }
      });

      it('PurgeService.start() keeps the chunk size in step and re-creates a dropped EVENT', async () => {
        await admin.query('SET GLOBAL event_scheduler = ON');
        const chunked = purgeService({ purgeIntervalSeconds: 60, purgeChunkRows: 7 });
        expect(await chunked.start()).toBe('event');
        expect(String((await eventRow())?.EVENT_DEFINITION)).toContain(`${PURGE_PROCEDURE_NAME}(7,`);
        await chunked.stop();
        await admin.query('DROP EVENT tenantkv_purge');
        expect(await eventRow()).toBeUndefined();
        const service = purgeService({ purgeIntervalSeconds: 60, purgeChunkRows: 1000 });
        expect(await service.start()).toBe('event');
        await service.stop();
        expect(await eventRow()).toMatchObject({ STATUS: 'ENABLED', INTERVAL_FIELD: 'SECOND' });
        expect(Number((await eventRow())?.INTERVAL_VALUE)).toBe(60);
        expect(String((await eventRow())?.EVENT_DEFINITION)).toContain(`${PURGE_PROCEDURE_NAME}(1000,`);
      });

      it('PurgeService.start() purges in process when the scheduler is off', async () => {
        await admin.query('SET GLOBAL event_scheduler = OFF');
        const service = purgeService();
        try {
          expect(await service.start()).toBe('in-process');
          const t = await makeTenant(h);
          await api(h, t)
            .put('k', 'v', h.clock.nowSeconds() + 5)
            .expect(201);
          h.clock.offsetSeconds = 100;
          await service.runOnce();
          expect(await storedKeys(t)).toEqual([]);
          expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 0, objectCount: 0 });
        } finally {
          await service.stop();
        }
      });
    });
  } else {
    it('PurgeService.start() purges in process on SQLite, which has no events', async () => {
      expect(h.db.dialect.hasEvents).toBe(false);
      const service = purgeService();
      try {
        expect(await service.start()).toBe('in-process');
        expect(service.mode).toBe('in-process');
      } finally {
        await service.stop();
      }
    });
  }
});
