import fs from 'node:fs';
import { databaseOf, serverConnection } from './mysql-admin';
import { MYSQL_STATUS_ENV } from './targets';

/** Drops this run's MySQL database and removes its SQLite folder. */
export default async function globalTeardown(): Promise<void> {
  const url = process.env.TENANTKV_TEST_MYSQL_URL;
  if (url && process.env[MYSQL_STATUS_ENV] === 'up') {
    const conn = await serverConnection(url);
    await conn.query(`DROP DATABASE IF EXISTS \`${databaseOf(url)}\``);
    await conn.end();
  }
  const dataDir = process.env.TENANTKV_TEST_DATA_DIR;
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}
