import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type mysql from 'mysql2/promise';
import { ServiceProcess, send } from '../../support/service-process';
import { TEST_MYSQL_URL, targets } from '../../support/targets';
import { databaseOf, serverConnection } from '../../support/mysql-admin';

/** The real service's start-up, as `make run` starts it: on SQLite (one worker) and on MariaDB (two). */
const SECRET = 'startup-test-jwt-secret-0123456789abcdef';

function envFor(target: 'mysql' | 'sqlite', extra: Record<string, string> = {}): Record<string, string> {
  return target === 'mysql'
    ? {
        DATABASE_URL: TEST_MYSQL_URL,
        JWT_SECRET_KEY: SECRET,
        WEB_CONCURRENCY: '2',
        MIGRATE_ON_START: 'false',
        ...extra,
      }
    : { DATA_DIR: fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-startup-')), ...extra };
}

async function takenPort(): Promise<{ port: number; release(): Promise<void> }> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    release: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe.each(targets())('start-up on %s', (target) => {
  const started: ServiceProcess[] = [];
  const start = (env: Record<string, string>): ServiceProcess => {
    const service = new ServiceProcess(envFor(target, env));
    started.push(service);
    return service;
  };
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
  });

  it('says where it listens with the address it bound, once', async () => {
    const local = start({ HOST: '127.0.0.1' });
    expect(await local.ready()).toMatch(/^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
    const everywhere = start({ HOST: '0.0.0.0' });
    const url = await everywhere.ready();
    expect(url).toMatch(/^http:\/\/0\.0\.0\.0:[1-9]\d*$/);
    expect((await send(`${url.replace('0.0.0.0', '127.0.0.1')}/healthz`)).status).toBe(200);
    expect(everywhere.lines.filter((l) => l.msg.startsWith('tenantkv listening on'))).toHaveLength(1);
  });

  it('stops with a clear message and a non-zero exit when its port is taken, without restarting workers', async () => {
    const taken = await takenPort();
    try {
      const service = start({ PORT: String(taken.port) });
      const { code } = await service.exited;
      expect(code).not.toBe(0);
      const fatal = service.lines.find((l) => l.level === 60 && l.pid === service.pid);
      expect(fatal?.msg).toContain(`127.0.0.1:${taken.port} is already in use`);
      expect(service.lines.filter((l) => /starting another/.test(l.msg))).toHaveLength(0);
    } finally {
      await taken.release();
    }
  });

  it('replaces a worker that dies after serving, and keeps serving', async () => {
    // A fixed port: with PORT=0, a service whose every worker died would listen again on a new random one.
    const free = await takenPort();
    await free.release();
    const service = start({ PORT: String(free.port) });
    const url = await service.ready();
    expect((await send(`${url}/readyz`)).status).toBe(200);
    const worker = (await service.waitForLine((l) => l.msg === 'request completed')).pid;
    process.kill(worker, 'SIGKILL');
    const died = await service.waitForLine((l) => l.msg === 'worker died; starting another');
    expect(died).toMatchObject({ worker, served: true, restartInMs: 1000 });
    const replacement = await service.waitForLine((l) => l.msg === 'a replacement worker is serving');
    expect(replacement.worker).not.toBe(worker);
    for (let i = 0; i < 4; i++) expect((await send(`${url}/readyz`)).status).toBe(200);
  });
});

(targets().includes('mysql') ? describe : describe.skip)('start-up of several instances on one MariaDB', () => {
  let admin: mysql.Connection;
  let database: string;
  let url: string;
  const started: ServiceProcess[] = [];

  beforeEach(async () => {
    admin = await serverConnection(TEST_MYSQL_URL);
    database = `${databaseOf(TEST_MYSQL_URL)}_fresh_${Math.random().toString(36).slice(2, 8)}`;
    await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    const u = new URL(TEST_MYSQL_URL);
    u.pathname = `/${database}`;
    url = u.toString();
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
    await admin.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin.end();
  });

  const instance = (): ServiceProcess => {
    const service = new ServiceProcess({ DATABASE_URL: url, JWT_SECRET_KEY: SECRET, WEB_CONCURRENCY: '1' });
    started.push(service);
    return service;
  };
  const lockRows = async (): Promise<unknown[]> =>
    (await admin.query(`SELECT * FROM \`${database}\`.knex_migrations_lock`))[0] as unknown[];

  it('starts two instances at the same moment on a fresh database: one migrates, the other waits, both serve', async () => {
    const [a, b] = [instance(), instance()];
    const urls = await Promise.all([a.ready(), b.ready()]);
    for (const u of urls) expect((await send(`${u}/readyz`)).status).toBe(200);
    expect(await lockRows()).toEqual([{ index: 1, is_locked: 0 }]);
    // And the next start finds the lock table as it should be.
    expect((await send(`${await instance().ready()}/readyz`)).status).toBe(200);
  });

  it('repairs a lock table that racing starters of an older release left with two rows', async () => {
    await admin.query(
      `CREATE TABLE \`${database}\`.knex_migrations_lock (\`index\` INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, is_locked INT)`,
    );
    await admin.query(`INSERT INTO \`${database}\`.knex_migrations_lock (is_locked) VALUES (0), (0)`);
    expect((await send(`${await instance().ready()}/readyz`)).status).toBe(200);
    expect(await lockRows()).toEqual([{ index: 1, is_locked: 0 }]);
  });

  it('waits for another instance’s migration, and says so, instead of failing', async () => {
    await admin.query(
      `CREATE TABLE \`${database}\`.knex_migrations_lock (\`index\` INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, is_locked INT)`,
    );
    await admin.query(`INSERT INTO \`${database}\`.knex_migrations_lock (is_locked) VALUES (1)`);
    const service = instance();
    await service.waitForLine((l) => l.msg === 'another instance is migrating this database: waiting for it to finish');
    await admin.query(`UPDATE \`${database}\`.knex_migrations_lock SET is_locked = 0`);
    expect((await send(`${await service.ready()}/readyz`)).status).toBe(200);
    expect(service.lines.some((l) => l.msg.includes('the schema is up to date'))).toBe(true);
  });

  it('stops after workers that cannot reach their database die at start five times in a row', async () => {
    const service = new ServiceProcess({
      DATABASE_URL: `${url}_missing`,
      JWT_SECRET_KEY: SECRET,
      WEB_CONCURRENCY: '1',
      MIGRATE_ON_START: 'false',
    });
    started.push(service);
    const { code } = await service.exited;
    expect(code).not.toBe(0);
    expect(service.lines.filter((l) => l.msg.startsWith('worker failed to start'))).toHaveLength(4);
    expect(service.lines.find((l) => l.level === 60 && l.pid === service.pid)?.msg).toMatch(
      /died within 10 s of starting 5 times in a row.*Unknown database/,
    );
  }, 60_000);
});
