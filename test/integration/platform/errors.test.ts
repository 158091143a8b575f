import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import zlib from 'node:zlib';
import {
  describeTargets,
  expectError,
  expectLedgerExact,
  harness,
  listen,
  makeTenant,
  request,
  type TestTenant,
} from '../../support/harness';
import { TEST_MYSQL_URL } from '../../support/targets';
import { databaseOf, serverConnection } from '../../support/mysql-admin';

/** A raw request, for what supertest will not send (a body with no Content-Type at all). */
function rawRequest(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer | string,
): Promise<{ status: number; headers: Record<string, string>; body: unknown; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers as Record<string, string>,
          body: parsed,
          text,
        });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** Writes a request head by hand over a socket: what no HTTP client library will send. */
function socketRequest(url: string, head: string): Promise<{ status: number; headers: string; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => {
      socket.write(`${head}\r\nHost: ${hostname}\r\nConnection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [headers, ...rest] = text.split('\r\n\r\n');
      resolve({ status: Number(headers.split(' ')[1]), headers, body: rest.join('\r\n\r\n') });
    });
  });
}

describeTargets('errors', (h, target) => {
  let t: TestTenant;
  let server: { url: string; close(): Promise<void> };
  beforeAll(async () => {
    server = await listen(h);
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(async () => {
    t = await makeTenant(h);
  });

  const postJson = (path: string, text: string) =>
    request(h.app).post(path).set(t.auth).set('Content-Type', 'application/json').send(text);

  describe.each(['/api/object', '/api/batch/object', '/api/auth/register', '/api/auth/login'])(
    'body errors on %s',
    (path) => {
      it.each([
        ['malformed JSON', '{"key": "a", "value": '],
        ['trailing garbage', '{"key":"a","value":1} x'],
        ['a single quote JSON', "{'key':'a'}"],
        ['a null body', 'null'],
        ['a string body', '"just a string"'],
        ['a number body', '42'],
        ['a boolean body', 'true'],
      ])('answers 400 JSON to %s', async (_name, text) => {
        expectError(await postJson(path, text), 400);
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0 });
      });

      it('answers 400 JSON to an empty body sent as JSON, and to no body at all', async () => {
        const empty = { ...t.auth, 'Content-Type': 'application/json', 'Content-Length': '0' };
        expectError(await rawRequest(server.url, 'POST', path, empty, ''), 400);
        // A Content-Length (even of 0) announces a body, and one without a type is not JSON.
        const untyped = await rawRequest(server.url, 'POST', path, { ...t.auth, 'Content-Length': '0' });
        expectError(untyped, 415, 'UNSUPPORTED_MEDIA_TYPE');
        // No Content-Length, no Transfer-Encoding, no Content-Type: a request with no body at all.
        const bare = await socketRequest(server.url, `POST ${path} HTTP/1.1\r\nAuthorization: ${t.auth.Authorization}`);
        expect(bare.status).toBe(400);
        expect(bare.headers).toMatch(/content-type: application\/json/i);
        expect(Object.keys(JSON.parse(bare.body) as object).sort()).toEqual(['code', 'message', 'status_code']);
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0 });
      });

      it('answers 415 JSON to a body that is not sent as application/json', async () => {
        const json = '{"key":"a","value":1}';
        expectError(await request(h.app).post(path).set(t.auth).set('Content-Type', 'text/plain').send(json), 415);
        expectError(
          await request(h.app)
            .post(path)
            .set(t.auth)
            .set('Content-Type', 'application/x-www-form-urlencoded')
            .send('a=1'),
          415,
        );
        expectError(
          await request(h.app).post(path).set(t.auth).set('Content-Type', 'application/xml').send('<a/>'),
          415,
        );
        const noType = await rawRequest(
          server.url,
          'POST',
          path,
          { ...t.auth, 'Content-Length': String(json.length) },
          json,
        );
        expectError(noType, 415, 'UNSUPPORTED_MEDIA_TYPE');
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0 });
      });

      it('answers 415 JSON to a charset other than UTF-8 and to an unknown content encoding', async () => {
        const json = '{"key":"a","value":1}';
        expectError(
          await request(h.app)
            .post(path)
            .set(t.auth)
            .set('Content-Type', 'application/json; charset=latin1')
            .send(json),
          415,
        );
        const res = await rawRequest(
          server.url,
          'POST',
          path,
          { ...t.auth, 'Content-Type': 'application/json', 'Content-Encoding': 'compress' },
          json,
        );
        expectError(res, 415);
      });

      it('answers 413 JSON to a body over 8 MiB', async () => {
        const big = JSON.stringify({ key: 'a', value: 'x'.repeat(8 * 1024 * 1024) });
        expectError(await postJson(path, big), 413, 'PAYLOAD_TOO_LARGE');
      });
    },
  );

  it('reads a gzip-encoded JSON body', async () => {
    const body = zlib.gzipSync(JSON.stringify({ key: 'gz', value: 'zipped' }));
    const res = await rawRequest(
      server.url,
      'POST',
      '/api/object',
      { ...t.auth, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
      body,
    );
    expect(res.status).toBe(201);
    expect((await request(h.app).get('/api/object/gz').set(t.auth).expect(200)).body.value).toBe('zipped');
  });

  it.each<[string, string, unknown]>([
    ['an array to /api/object', '/api/object', [{ key: 'a', value: 1 }]],
    ['an object to /api/batch/object', '/api/batch/object', { key: 'a', value: 1 }],
    ['a numeric key', '/api/object', { key: 1, value: 1 }],
    ['a missing value', '/api/object', { key: 'a' }],
    ['a string ttl', '/api/object', { key: 'a', value: 1, ttl: 'soon' }],
    ['a null ttl', '/api/object', { key: 'a', value: 1, ttl: null }],
    ['an empty batch', '/api/batch/object', []],
    ['a batch item of the wrong type', '/api/batch/object', ['a']],
    ['a batch item with a wrong type', '/api/batch/object', [{ key: 'a', value: 1, ttl: 'x' }]],
  ])('answers 400 JSON to %s', async (_name, path, body) => {
    const res = await request(h.app)
      .post(path)
      .set(t.auth)
      .send(body as object);
    expectError(res, 400);
    expect(await expectLedgerExact(h, t.id)).toMatchObject({ objectCount: 0 });
  });

  it.each([
    ['GET', '/nope'],
    ['GET', '/api'],
    ['GET', '/api/object/a/b'],
  ])('answers 404 JSON to %s %s', async (method, path) => {
    const res = await rawRequest(server.url, method, path, t.auth);
    expectError(res, 404);
    expect(res.text.startsWith('{')).toBe(true);
  });

  it.each([
    ['GET', '/api/object'],
    ['GET', '/api/object/'],
    ['PUT', '/api/object'],
    ['PUT', '/api/object/a'],
    ['PATCH', '/api/object/a'],
    ['POST', '/api/object/a'],
    ['GET', '/api/batch/object'],
    ['DELETE', '/api/quota'],
    ['GET', '/api/auth/login'],
    ['POST', '/healthz'],
  ])('answers 405 JSON, with the methods it has, to %s %s', async (method, path) => {
    const res = await rawRequest(server.url, method, path, t.auth);
    expectError(res, 405, 'METHOD_NOT_ALLOWED');
    expect(res.headers.allow).toMatch(/^[A-Z]+(, [A-Z]+)*$/);
  });

  it('answers 400 JSON to a path that is not valid percent-encoding', async () => {
    for (const path of ['/api/object/%', '/api/object/%E0%A4%A', '/api/object/%zz', '/api/object/%C0%AF']) {
      const res = await rawRequest(server.url, 'GET', path, t.auth);
      expectError(res, 400);
    }
  });

  it('answers a database that is gone with a JSON 503 and Retry-After that leaks nothing', async () => {
    const broken = await harness(target);
    await broken.close();
    const token = broken.tokens.issue(
      { tenantId: t.id, scopes: ['read', 'write'], tokenVersion: 0 },
      broken.clock.nowSeconds(),
    ).token;
    for (const res of [
      await request(broken.app).get('/api/object/k').set('Authorization', token),
      await request(broken.app).post('/api/auth/login').send({ user_name: 'x', password: 'y' }),
    ]) {
      expectError(res, 503, 'DATABASE_UNAVAILABLE');
      expect(res.headers['retry-after']).toBe('1');
      expect(JSON.stringify(res.body)).not.toMatch(/select|knex|pool|sqlite|mysql/i);
    }
  });

  it('answers a fault that retrying will not fix with a JSON 500 that leaks nothing', async () => {
    // A database without the service's tables: every statement fails, and no retry can help.
    let emptyUrl: string | undefined;
    let dataDir: string | undefined;
    if (target === 'mysql') {
      emptyUrl = TEST_MYSQL_URL.replace(/\/([^/?]+)(\?|$)/, '/$1_empty$2');
      const admin = await serverConnection(emptyUrl);
      await admin.query(`CREATE DATABASE IF NOT EXISTS \`${databaseOf(emptyUrl)}\``);
      await admin.end();
    } else dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-empty-'));
    try {
      const empty = await harness(target, {
        writeStrategy: 'transaction',
        config: emptyUrl ? { databaseUrl: emptyUrl } : { dataDir },
      });
      const token = empty.tokens.issue(
        { tenantId: t.id, scopes: ['read', 'write'], tokenVersion: 0 },
        empty.clock.nowSeconds(),
      ).token;
      for (const res of [
        await request(empty.app).get('/api/object/k').set('Authorization', token),
        await request(empty.app).post('/api/auth/login').send({ user_name: 'x', password: 'y' }),
      ]) {
        expectError(res, 500, 'INTERNAL', 'internal server error');
        expect(res.headers['retry-after']).toBeUndefined();
        expect(JSON.stringify(res.body)).not.toMatch(/select|knex|pool|sqlite|mysql|table|database/i);
      }
      await empty.close();
    } finally {
      if (emptyUrl) {
        const admin = await serverConnection(emptyUrl);
        await admin.query(`DROP DATABASE IF EXISTS \`${databaseOf(emptyUrl)}\``);
        await admin.end();
      }
    }
  });

  it('never answers HTML, even to a HEAD or OPTIONS request on an unknown route', async () => {
    const options = await rawRequest(server.url, 'OPTIONS', '/nope', {});
    expect(options.headers['content-type'] ?? '').not.toMatch(/html/);
    expect(options.status).toBeLessThan(500);
    const head = await rawRequest(server.url, 'HEAD', '/nope', {});
    expect(head.status).toBe(404);
    expect(head.headers['content-type']).toMatch(/^application\/json/);
  });
});
