import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/platform/config';
import { createDb } from '../../src/platform/db/database';
import { migrateLatest } from '../../src/platform/db/migrate';
import { serverConnection } from './mysql-admin';
import { BASE_MYSQL_URL, MYSQL_STATUS_ENV } from './targets';

/**
 * Once per run: the service compiled as `make run` compiles it (into dist-test/, for the tests that start it as a
 * real process), and the test databases: a fresh MySQL schema and a fresh SQLite folder, both migrated.
 */
export default async function globalSetup(): Promise<void> {
  const root = path.resolve(__dirname, '../..');
  execFileSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', 'dist-test'],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
  const url = new URL(BASE_MYSQL_URL);
  const database = `${url.pathname.slice(1)}_${process.pid}`;
  url.pathname = `/${database}`;
  const TEST_MYSQL_URL = url.toString();
  process.env.TENANTKV_TEST_MYSQL_URL = TEST_MYSQL_URL;
  try {
    const conn = await serverConnection(TEST_MYSQL_URL);
    await conn.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await conn.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    await conn.end();
    process.env[MYSQL_STATUS_ENV] = 'up';
  } catch (err) {
    if (process.env.CI === 'true') {
      throw new Error(`CI=true and MySQL/MariaDB is not reachable at ${TEST_MYSQL_URL}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    process.env[MYSQL_STATUS_ENV] = 'down';
    process.stderr.write(
      `\n*** MySQL/MariaDB not reachable at ${TEST_MYSQL_URL} (${(err as Error).message}).\n` +
        '*** The integration tests ran against the embedded SQLite database ONLY.\n\n',
    );
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-test-'));
  process.env.TENANTKV_TEST_DATA_DIR = dataDir;
  const targets = process.env[MYSQL_STATUS_ENV] === 'up' ? [TEST_MYSQL_URL, undefined] : [undefined];
  for (const databaseUrl of targets) {
    const db = createDb(loadConfig({ DATA_DIR: dataDir, NODE_ENV: 'test' }, { databaseUrl }));
    await migrateLatest(db);
    await db.close();
  }
}
