import fs from 'node:fs';
import mysql from 'mysql2/promise';
import { MYSQL_STATUS_ENV } from './targets';

/** Drops this run's MySQL database and removes its SQLite folder. */
export default async function globalTeardown(): Promise<void> {
  const url = process.env.TENANTKV_TEST_MYSQL_URL;
  if (url && process.env[MYSQL_STATUS_ENV] === 'up') {
    const u = new URL(url);
    const conn = await mysql.createConnection({
      host: u.hostname,
      port: Number(u.port || 3306),
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
    });
    await conn.query(`DROP DATABASE IF EXISTS \`${u.pathname.slice(1)}\``);
    await conn.end();
  }
  const dataDir = process.env.TENANTKV_TEST_DATA_DIR;
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}
