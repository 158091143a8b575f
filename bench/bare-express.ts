/**
 * The framework's own ceiling on this machine: a bare Express 5 server, one process, no logging, no auth, no
 * validation. Two routes shaped like the service's GET (tenant and key in the path instead of the token):
 *   GET /bare/hello/:tenant/:key   a constant JSON body, no database;
 *   GET /bare/object/:tenant/:key  one mysql2 point select, the service's own SQL and pool options.
 * Beside it, in the same process (loaded one at a time), Node's own ceiling: a node:http server that answers
 * every request with the same constant JSON body, no framework at all.
 * Env: BARE_DATABASE_URL (mysql://…/db), BARE_POOL_SIZE. Prints {"port": n, "httpPort": m} on stdout once both
 * listen.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import mysql from 'mysql2';
import { OBJECTS_SQL } from '../src/features/objects';
import { mysqlOptions } from './common';

function main(): void {
  const url = new URL(process.env.BARE_DATABASE_URL ?? '');
  const database = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '';
  const poolSize = Number(process.env.BARE_POOL_SIZE ?? 10);
  const pool = mysql.createPool(mysqlOptions(url.toString().replace(/\/$/, ''), database, poolSize));
  pool.on('connection', (conn) => {
    conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', (err) => {
      if (err) process.stderr.write(`SET SESSION failed: ${err.message}\n`);
    });
  });
  const db = pool.promise();

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/bare/hello/:tenant/:key', (_req, res) => {
    res.status(200).type('application/json').send('{"hello":"world"}');
  });
  app.get('/bare/object/:tenant/:key', async (req, res) => {
    const [rows] = await db.query<mysql.RowDataPacket[]>(OBJECTS_SQL.get, [Number(req.params.tenant), req.params.key]);
    const row = rows[0];
    if (!row) {
      res.status(404).json({ message: 'object not found', status_code: 404, code: 'OBJECT_NOT_FOUND' });
      return;
    }
    res
      .status(200)
      .type('application/json')
      .send(`{"key":${JSON.stringify(req.params.key)},"value":${row.value as string},"ttl":${row.expires_at ?? 0}}`);
  });

  const server = http.createServer(app);
  const hello = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end('{"hello":"world"}');
  });
  for (const s of [server, hello]) s.keepAliveTimeout = 65_000;
  const listening = (s: http.Server): Promise<number> =>
    new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
  void Promise.all([listening(server), listening(hello)]).then(([port, httpPort]) => {
    process.stdout.write(`${JSON.stringify({ port, httpPort })}\n`);
  });
  process.once('SIGTERM', () => {
    for (const s of [server, hello]) {
      s.close();
      s.closeAllConnections();
    }
    pool.end(() => process.exit(0));
  });
}

main();
