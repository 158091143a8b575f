import path from 'node:path';
import Sqlite from 'better-sqlite3';
import type mysql from 'mysql2/promise';
import {
  api,
  expectError,
  harness,
  listen,
  makeTenant,
  request,
  valueOfSize,
  type Harness,
} from '../../support/harness';
import { TEST_MYSQL_URL, targets, type TargetName } from '../../support/targets';
import { databaseOf, serverConnection } from '../../support/mysql-admin';

/**
 * The database's troubles, as clients see them: 503 DATABASE_UNAVAILABLE or BUSY with Retry-After, within the
 * request's budget, never a 500 and never a hang; and the service serves again once the trouble is over.
 */

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

function expectRetryLater(res: Answer, code: 'BUSY' | 'DATABASE_UNAVAILABLE'): void {
  expectError(res, 503, code);
  expect(res.headers['retry-after']).toBe('1');
}

/** A tenant's row held by a transaction from outside the service, as a long admin operation would. */
interface TenantLock {
  release(): Promise<void>;
}

async function lockTenant(target: TargetName, h: Harness, tenantId: number): Promise<TenantLock> {
  if (target === 'mysql') {
    const conn = await serverConnection(TEST_MYSQL_URL, true);
    await conn.query('START TRANSACTION');
    await conn.query('SELECT id FROM tenants WHERE id = ? FOR UPDATE', [tenantId]);
    return {
      release: async () => {
        await conn.query('ROLLBACK');
        await conn.end();
      },
    };
  }
  // SQLite locks the whole database: a writer of another process holds it.
  const other = new Sqlite(path.join(h.config.dataDir, 'tenantkv.sqlite'));
  other.prepare('BEGIN IMMEDIATE').run();
  other.prepare('UPDATE tenants SET updated_at = updated_at WHERE id = ?').run(tenantId);
  return {
    release: async () => {
      other.prepare('ROLLBACK').run();
      other.close();
    },
  };
}

/** The ids of the service's connections running a statement (waiting for a lock), once there are `count`. */
async function waitingStatements(admin: mysql.Connection, count: number): Promise<number[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const [rows] = await admin.query(
      `SELECT ID FROM information_schema.PROCESSLIST
       WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND = 'Query' AND INFO IS NOT NULL`,
    );
    const ids = (rows as { ID: number }[]).map((r) => Number(r.ID));
    if (ids.length >= count) return ids;
    if (Date.now() > deadline) throw new Error(`${ids.length} statements waiting, not ${count}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(targets())('database troubles on %s', (target) => {
  const opened: Harness[] = [];
  const open = async (options: Parameters<typeof harness>[1]): Promise<Harness> => {
    const h = await harness(target, options);
    opened.push(h);
    return h;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((h) => h.close()));
  });

  it('a tenant row locked past the lock wait timeout: its writes get 503 BUSY with Retry-After within the budget, and succeed once it is released', async () => {
    const budgetMs = 5000;
    const h = await open({ env: { DB_LOCK_WAIT_TIMEOUT_SECONDS: '1', REQUEST_TIMEOUT_MS: String(budgetMs) } });
    const locked = await makeTenant(h);
    const other = await makeTenant(h);
    const server = await listen(h);
    const lock = await lockTenant(target, h, locked.id);
    try {
      for (const write of [
        () => api(server.url, locked).put('k', valueOfSize(10)),
        () => api(server.url, locked).batch([{ key: 'b', value: 1 }]),
        () => api(server.url, locked).del('k'),
      ]) {
        const started = Date.now();
        const res = await write();
        expect(Date.now() - started).toBeLessThan(budgetMs);
        expectRetryLater(res, 'BUSY');
      }
      // Reads do not wait for row locks.
      await api(server.url, locked).quota().expect(200);
      // SQLite has one writer for every tenant; MySQL locks rows, and the other tenant writes on.
      if (target === 'mysql') await api(server.url, other).put('k', valueOfSize(10)).expect(201);
    } finally {
      await lock.release();
    }
    await api(server.url, locked).put('k', valueOfSize(10)).expect(201);
    await api(server.url, locked)
      .batch([{ key: 'b', value: 1 }])
      .expect(201);
    await api(server.url, locked).del('k').expect(204);
    expect((await api(server.url, locked).quota().expect(200)).body).toMatchObject({ utilised: 1 });
    await server.close();
  });

  if (target !== 'mysql') return;

  describe('on MySQL only', () => {
    let admin: mysql.Connection;
    beforeAll(async () => {
      admin = await serverConnection(TEST_MYSQL_URL, true);
    });
    afterAll(async () => {
      await admin.end();
    });

    it('refused connections: every request that needs the database gets 503 DATABASE_UNAVAILABLE with Retry-After', async () => {
      const down = await open({
        writeStrategy: 'transaction',
        config: { databaseUrl: 'mysql://root@127.0.0.1:1/tenantkv' },
      });
      const token = down.tokens.issue(
        { tenantId: 1, scopes: ['read', 'write'], tokenVersion: 0 },
        down.clock.nowSeconds(),
      );
      const auth = { Authorization: `Bearer ${token.token}` };
      for (const res of [
        await request(down.app).get('/api/object/k').set(auth),
        await request(down.app).post('/api/object').set(auth).send({ key: 'k', value: 1 }),
        await request(down.app).post('/api/auth/login').send({ user_name: 'x', password: 'y' }),
        await request(down.app).get('/readyz'),
      ]) {
        expectRetryLater(res, 'DATABASE_UNAVAILABLE');
      }
    });

    it('too many connections: 503 BUSY with Retry-After, then served once a connection is free', async () => {
      const user = `tkv_limited_${process.pid}`;
      const database = databaseOf(TEST_MYSQL_URL);
      await admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
      await admin.query(`CREATE USER '${user}'@'%' IDENTIFIED BY 'limited-pw' WITH MAX_USER_CONNECTIONS 1`);
      await admin.query(`GRANT ALL ON \`${database}\`.* TO '${user}'@'%'`);
      const url = new URL(TEST_MYSQL_URL);
      url.username = user;
      url.password = 'limited-pw';
      const holder = await serverConnection(url.toString(), true);
      try {
        const full = await open({ writeStrategy: 'transaction', config: { databaseUrl: url.toString() } });
        const t = await makeTenant(await open({}));
        expectRetryLater(await api(full, t).get('k'), 'BUSY');
        expectRetryLater(await api(full, t).put('k', 1), 'BUSY');
        await holder.end();
        await api(full, t).put('k', 1).expect(201);
      } finally {
        await holder.end().catch(() => undefined);
        await admin.query(`DROP USER IF EXISTS '${user}'@'%'`);
      }
    });

    it('a connection killed mid-statement: 503 DATABASE_UNAVAILABLE, and the next request is served on a new one', async () => {
      const h = await open({ env: { DB_LOCK_WAIT_TIMEOUT_SECONDS: '10' } });
      const t = await makeTenant(h);
      const lock = await lockTenant(target, h, t.id);
      let released = false;
      try {
        const pending = api(h, t).put('k', valueOfSize(10));
        const answer = pending.then((res) => res);
        const [victim] = await waitingStatements(admin, 1);
        await admin.query(`KILL CONNECTION ${victim}`);
        expectRetryLater(await answer, 'DATABASE_UNAVAILABLE');
        await lock.release();
        released = true;
        await api(h, t).put('k', valueOfSize(10)).expect(201);
      } finally {
        if (!released) await lock.release();
      }
    });

    it('a pooled connection killed while idle is replaced: the next request is served', async () => {
      const h = await open({});
      const t = await makeTenant(h);
      await api(h, t).put('k', 1).expect(201);
      const [rows] = await admin.query(
        `SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND COMMAND = 'Sleep'`,
      );
      for (const { ID } of rows as { ID: number }[]) await admin.query(`KILL CONNECTION ${Number(ID)}`);
      // The pool drops a connection once its socket has closed; one that the pool hands out before it has
      // noticed fails before its statement runs: 503, never a 500. Either way the next request is served.
      const first = await api(h, t).get('k');
      if (first.status !== 200) expectRetryLater(first, 'DATABASE_UNAVAILABLE');
      expect((await api(h, t).get('k').expect(200)).body).toMatchObject({ value: 1 });
      await api(h, t).put('k', 2).expect(201);
    });

    it('no pooled connection free in time: 503 BUSY with Retry-After after DB_ACQUIRE_TIMEOUT_MS', async () => {
      const h = await open({
        env: { DB_LOCK_WAIT_TIMEOUT_SECONDS: '3', DB_ACQUIRE_TIMEOUT_MS: '300' },
        config: { dbPoolMax: 2 },
      });
      const locked = [await makeTenant(h), await makeTenant(h)];
      const other = await makeTenant(h);
      const server = await listen(h);
      const locks = [await lockTenant(target, h, locked[0].id), await lockTenant(target, h, locked[1].id)];
      try {
        // A write of each locked tenant waits for its lock, holding both connections.
        const waiting = locked.map((tenant) =>
          api(server.url, tenant)
            .put('a', 1)
            .then((r) => r),
        );
        await waitingStatements(admin, 2);
        const started = Date.now();
        const res = await api(server.url, other).put('k', 1);
        expectRetryLater(res, 'BUSY');
        expect(Date.now() - started).toBeLessThan(2500);
        for (const r of await Promise.all(waiting)) expectRetryLater(r, 'BUSY');
      } finally {
        for (const lock of locks) await lock.release();
      }
      await api(server.url, other).put('k', 1).expect(201);
      await server.close();
    });

    it('a locked tenant holds one connection: its writers wait in memory, other tenants are served, and its writes commit in groups once it is free', async () => {
      const h = await open({
        env: { DB_LOCK_WAIT_TIMEOUT_SECONDS: '20', REQUEST_TIMEOUT_MS: '60000' },
        config: { dbPoolMax: 3 },
      });
      const hot = await makeTenant(h);
      const other = await makeTenant(h);
      const server = await listen(h);
      const lock = await lockTenant(target, h, hot.id);
      const writers = 30;
      let settled = 0;
      let answers: Answer[];
      try {
        // Ten times the pool: without the per-tenant line they would hold every connection.
        const pending = Array.from({ length: writers }, (_, i) =>
          api(server.url, hot)
            .put(`k${i % 10}`, valueOfSize(10 + i))
            .then((r) => {
              settled++;
              return r as Answer;
            }),
        );
        await waitingStatements(admin, 1);
        await api(server.url, other).put('k', valueOfSize(10)).expect(201);
        await api(server.url, other).get('k').expect(200);
        await api(server.url, other)
          .batch([{ key: 'b', value: 1 }])
          .expect(201);
        expect(settled).toBe(0);
        expect(await waitingStatements(admin, 1)).toHaveLength(1);
        expect(h.container.writes.pending).toBe(writers);
        await lock.release();
        answers = await Promise.all(pending);
      } finally {
        await lock.release().catch(() => undefined);
      }
      for (const res of answers) expect(res.status).toBe(201);
      // Versions in the order the writes were decided: each its own, none lost.
      const versions = answers.map((res) => Number(String(res.headers.etag).replace(/"/g, '')));
      expect(new Set(versions).size).toBe(writers);
      expect(h.container.writes.stats.commands).toBe(writers + 2);
      expect(h.container.writes.stats.groups).toBeLessThan(writers);
      const quota = (await api(server.url, hot).quota().expect(200)).body;
      let expected = 0;
      for (let k = 0; k < 10; k++) {
        const res = await api(server.url, hot).get(`k${k}`).expect(200);
        expected += Buffer.byteLength(JSON.stringify(res.body.value));
      }
      expect(quota).toMatchObject({ utilised: expected, objects: 10, revision: writers });
      await server.close();
    });

    it('a request past REQUEST_TIMEOUT_MS is answered 503 BUSY with Retry-After, whatever it waits for', async () => {
      const h = await open({ env: { DB_LOCK_WAIT_TIMEOUT_SECONDS: '3', REQUEST_TIMEOUT_MS: '400' } });
      const t = await makeTenant(h);
      const server = await listen(h);
      const lock = await lockTenant(target, h, t.id);
      try {
        const started = Date.now();
        const res = await api(server.url, t).put('k', 1);
        const took = Date.now() - started;
        expectRetryLater(res, 'BUSY');
        expect(took).toBeGreaterThanOrEqual(400);
        expect(took).toBeLessThan(2500);
      } finally {
        await lock.release();
      }
      await api(server.url, t).put('k', 2).expect(201);
      expect((await api(server.url, t).get('k').expect(200)).body).toMatchObject({ value: 2 });
      await server.close();
    });
  });
});
