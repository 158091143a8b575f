import http from 'node:http';
import {
  api,
  describeTargets,
  expectError,
  expectLedgerExact,
  ledger,
  listen,
  makeTenant,
  objectPath,
  request,
  storedKeys,
  valueOfSize,
  writeExpiredInDb,
  type Harness,
  type TestTenant,
} from '../../support/harness';

/** GET /api/export, GET /api/admin/tenants/:id/export and POST /api/import. */

const ADMIN_KEY = 'admin-key-transfer-0123456789abcdef';
const asAdmin = { Authorization: `Bearer ${ADMIN_KEY}` };
/** Small limits, so that chunks cut by bytes and bodies over MAX_BODY_BYTES cost little. */
const MAX_BATCH_BYTES = 256 * 1024;
const MAX_BATCH_ITEM_BYTES = 8192;
const MAX_BODY_BYTES = 64 * 1024;

interface ExportLine {
  key: string;
  value: unknown;
  ttl: number;
  metadata: Record<string, unknown> | null;
  version: number;
}

interface ImportReport {
  written: number;
  skipped: number;
  failed: { line: number; code: string; message: string }[];
  stopped?: { line: number; code: string };
}

/** Supertest buffers only the types it knows: this reads any body as text. */
function asText(res: request.Response, done: (err: Error | null, body: unknown) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream;
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => (text += chunk));
  stream.on('end', () => done(null, text));
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const ndjson = (items: unknown[]): string => items.map((i) => JSON.stringify(i)).join('\n') + '\n';
const keysFrom = (prefix: string, n: number): string[] =>
  Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(4, '0')}`);

describeTargets(
  'export and import',
  (h: Harness) => {
    async function exportRaw(path: string, auth: Record<string, string>) {
      const res = await request(h.app).get(path).set(auth).buffer(true).parse(asText);
      return { status: res.status, type: res.headers['content-type'], text: res.body as string };
    }

    async function exportOf(t: TestTenant, prefix?: string): Promise<ExportLine[]> {
      const query = prefix === undefined ? '' : `?prefix=${encodeURIComponent(prefix)}`;
      const res = await exportRaw(`/api/export${query}`, t.auth);
      expect(res.status).toBe(200);
      expect(res.type).toBe('application/x-ndjson');
      return linesOf(res.text);
    }

    function linesOf(text: string): ExportLine[] {
      if (text === '') return [];
      expect(text.endsWith('\n')).toBe(true);
      return text
        .slice(0, -1)
        .split('\n')
        .map((line) => JSON.parse(line) as ExportLine);
    }

    function importBody(t: TestTenant | Record<string, string>, body: string, mode?: string) {
      const auth = 'auth' in t ? (t as TestTenant).auth : t;
      return request(h.app)
        .post(`/api/import${mode === undefined ? '' : `?mode=${mode}`}`)
        .set(auth)
        .set('Content-Type', 'application/x-ndjson')
        .send(body);
    }

    async function importOf(t: TestTenant, body: string, mode?: string): Promise<ImportReport> {
      const res = await importBody(t, body, mode);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      return res.body as ImportReport;
    }

    const put = (t: TestTenant, body: Record<string, unknown> | string) =>
      request(h.app).post('/api/object').set(t.auth).set('Content-Type', 'application/json').send(body).expect(201);
    /** Integers beyond 2^53, which only JSON text can carry. */
    const BIG = '{"n":12345678901234567890,"neg":-9007199254740993}';

    describe('GET /api/export', () => {
      it('gives every live object with its value, ttl, metadata and version, one per line', async () => {
        const t = await makeTenant(h);
        const ttl = h.clock.nowSeconds() + 3600;
        await put(t, { key: 'users/42/profile', value: { lang: 'en', tags: ['a', null] }, metadata: { owner: 'ada' } });
        await put(t, { key: 'users/42/name', value: 'Ada', ttl });
        await put(t, `{"key":"big","value":${BIG}}`);
        const versions = new Map<string, number>();
        for (const key of ['users/42/profile', 'users/42/name', 'big']) {
          versions.set(key, (await request(h.app).get(objectPath(key)).set(t.auth).expect(200)).body.version);
        }
        const res = await exportRaw('/api/export', t.auth);
        // The stored JSON is spliced in as it is: the integer beyond 2^53 keeps its digits.
        expect(res.text.split('\n')[0]).toBe(
          `{"key":"big","value":${BIG},"ttl":0,"metadata":null,"version":${versions.get('big')}}`,
        );
        expect(linesOf(res.text).slice(1)).toEqual([
          { key: 'users/42/name', value: 'Ada', ttl, metadata: null, version: versions.get('users/42/name') },
          {
            key: 'users/42/profile',
            value: { lang: 'en', tags: ['a', null] },
            ttl: 0,
            metadata: { owner: 'ada' },
            version: versions.get('users/42/profile'),
          },
        ]);
      });

      it('orders keys by their UTF-8 bytes: case, accents, astral characters, across pages', async () => {
        const t = await makeTenant(h);
        const odd = ['b', 'B', 'a', 'A', 'é', 'e\u0301', 'z', '😀', '\uE000', 'ab', 'a/', 'a b', '~'];
        const many = keysFrom('m/', 2100);
        const kv = api(h, t);
        await kv.batch(odd.map((key, i) => ({ key, value: i }))).expect(201);
        await kv.batch(many.map((key) => ({ key, value: 1 }))).expect(201);
        const keys = (await exportOf(t)).map((l) => l.key);
        expect(keys).toEqual([...odd, ...many].sort(byteOrder));
        expect(keys).toEqual(await storedKeys(h, t.id).then((stored) => stored.sort(byteOrder)));
      });

      it('reads a page of large values in several steps, giving every object once and in order', async () => {
        const t = await makeTenant(h, 16 * 1024 * 1024);
        // 600 values of 8 KiB: 4.9 MB, over the 4 MiB of values an export reads at a time.
        const keys = keysFrom('big/', 600);
        const value = (key: string) => key + valueOfSize(MAX_BATCH_ITEM_BYTES - key.length);
        // Seven to a batch: a body stays under this suite's MAX_BODY_BYTES.
        for (let i = 0; i < keys.length; i += 7) {
          await api(h, t)
            .batch(keys.slice(i, i + 7).map((key) => ({ key, value: value(key) })))
            .expect(201);
        }
        await api(h, t)
          .batch([{ key: 'small', value: 1 }])
          .expect(201);
        const exported = await exportOf(t);
        expect(exported.map((l) => l.key)).toEqual([...keys, 'small']);
        expect(exported.slice(0, -1).every((l) => l.value === value(l.key))).toBe(true);
      });

      it('gives only the keys under the prefix', async () => {
        const t = await makeTenant(h);
        await api(h, t)
          .batch(['users/1', 'users/2', 'users', 'usersX', 'other/1', 'user/1'].map((key) => ({ key, value: key })))
          .expect(201);
        expect((await exportOf(t, 'users/')).map((l) => l.key)).toEqual(['users/1', 'users/2']);
        expect((await exportOf(t, 'users')).map((l) => l.key)).toEqual(['users', 'users/1', 'users/2', 'usersX']);
        expect(await exportOf(t, 'none/')).toEqual([]);
      });

      it('leaves expired objects out', async () => {
        const t = await makeTenant(h);
        await writeExpiredInDb(h, (ttl) => put(t, { key: 'gone', value: 1, ttl }));
        await put(t, { key: 'live', value: 2 });
        expect((await exportOf(t)).map((l) => l.key)).toEqual(['live']);
        expect(await storedKeys(h, t.id)).toEqual(['gone', 'live']);
      });

      it('answers an empty tenant with an empty body, and refuses without a token', async () => {
        const t = await makeTenant(h);
        const empty = await exportRaw('/api/export', t.auth);
        expect({ status: empty.status, type: empty.type, text: empty.text }).toEqual({
          status: 200,
          type: 'application/x-ndjson',
          text: '',
        });
        expectError(await request(h.app).get('/api/export'), 401, 'UNAUTHORIZED');
        expectError(
          await request(h.app)
            .get(`/api/export?prefix=${'p'.repeat(2049)}`)
            .set(t.auth),
          400,
        );
      });

      it('works with a read-only token', async () => {
        const t = await makeTenant(h);
        await put(t, { key: 'k', value: 1 });
        const { token } = h.tokens.issue({ tenantId: t.id, scopes: ['read'], tokenVersion: 0 }, h.clock.nowSeconds());
        const res = await exportRaw('/api/export', { Authorization: `Bearer ${token}` });
        expect(res.status).toBe(200);
        expect(linesOf(res.text).map((l) => l.key)).toEqual(['k']);
      });
    });

    describe('GET /api/admin/tenants/:id/export', () => {
      it("gives any tenant's export, as the tenant gets it", async () => {
        const t = await makeTenant(h);
        await api(h, t)
          .batch([
            { key: 'a', value: 1 },
            { key: 'b/c', value: { d: true } },
          ])
          .expect(201);
        const admin = await exportRaw(`/api/admin/tenants/${t.id}/export`, asAdmin);
        expect(admin.status).toBe(200);
        expect(admin.type).toBe('application/x-ndjson');
        expect(admin.text).toBe((await exportRaw('/api/export', t.auth)).text);
        const prefixed = await exportRaw(`/api/admin/tenants/${t.id}/export?prefix=b%2F`, asAdmin);
        expect(linesOf(prefixed.text).map((l) => l.key)).toEqual(['b/c']);
      });

      it('answers 404 for a tenant that does not exist, and 401 without the admin key', async () => {
        expectError(
          await request(h.app).get('/api/admin/tenants/999999999/export').set(asAdmin),
          404,
          'TENANT_NOT_FOUND',
        );
        const t = await makeTenant(h);
        expectError(await request(h.app).get(`/api/admin/tenants/${t.id}/export`), 401);
        expectError(
          await request(h.app).get(`/api/admin/tenants/${t.id}/export`).set(t.auth),
          403,
          'ADMIN_KEY_REQUIRED',
        );
      });
    });

    describe('POST /api/import', () => {
      it('round-trips an export into a new tenant: the same objects and the same bytes charged', async () => {
        const from = await makeTenant(h);
        const ttl = h.clock.nowSeconds() + 7200;
        await put(from, {
          key: 'users/42/profile',
          value: { lang: 'en', n: [1, 2.5, -0] },
          metadata: { owner: 'ada' },
        });
        await put(from, { key: 'users/42/sessions/1', value: 'tok', ttl, metadata: { ip: '::1' } });
        await put(from, { key: 'deep/a/b/c/d', value: [[[{ x: null }]]] });
        await put(from, `{"key":"exact","value":${BIG}}`);
        await put(from, { key: 'small', value: [1e-7, 1.5e300] });
        await put(from, { key: 'Ünïcödé 😀', value: 'é' });
        const exported = await exportRaw('/api/export', from.auth);

        const to = await makeTenant(h);
        expect(await importOf(to, exported.text)).toEqual({ written: 6, skipped: 0, failed: [] });
        const again = await exportRaw('/api/export', to.auth);
        const withoutVersion = (text: string) => text.replace(/,"version":\d+\}$/gm, '}');
        expect(withoutVersion(again.text)).toBe(withoutVersion(exported.text));
        expect((await ledger(h, to.id)).utilised).toBe((await ledger(h, from.id)).utilised);
        expect((await expectLedgerExact(h, to.id)).objectCount).toBe(6);
      });

      it('writes as a batch does: new versions, kept history, change records', async () => {
        const t = await makeTenant(h, 1024 * 1024, 2);
        await put(t, { key: 'k', value: 'before' });
        const before = (await request(h.app).get(objectPath('k')).set(t.auth).expect(200)).body.version as number;
        await importOf(t, ndjson([{ key: 'k', value: 'after', ttl: 0, metadata: null, version: 1 }]));
        const now = (await request(h.app).get(objectPath('k')).set(t.auth).expect(200)).body;
        expect(now).toMatchObject({ value: 'after' });
        expect(now.version).toBeGreaterThan(before);
        const history = await request(h.app)
          .get(`${objectPath('k')}/history`)
          .set(t.auth)
          .expect(200);
        expect(history.body.items.map((v: { value: unknown }) => v.value)).toEqual(['after', 'before']);
        const changes = await request(h.app).get('/api/changes').set(t.auth).expect(200);
        expect(changes.body.changes.at(-1)).toMatchObject({ key: 'k', version: now.version });
        expect(await ledger(h, t.id)).toMatchObject({ utilised: 7 + 8, objectCount: 1 });
      });

      it('overwrite (the default) replaces existing keys; skip_existing leaves them and counts them', async () => {
        const t = await makeTenant(h);
        await api(h, t)
          .batch([
            { key: 'a', value: 'old' },
            { key: 'b', value: 'old' },
          ])
          .expect(201);
        await writeExpiredInDb(h, (ttl) => put(t, { key: 'expired', value: 'old', ttl }));
        const lines = ndjson(['a', 'c', 'expired'].map((key) => ({ key, value: 'new' })));

        expect(await importOf(t, lines, 'skip_existing')).toEqual({ written: 2, skipped: 1, failed: [] });
        const values = async () =>
          (await exportOf(t)).map((l) => [l.key, l.value] as const).sort((x, y) => byteOrder(x[0], y[0]));
        expect(await values()).toEqual([
          ['a', 'old'],
          ['b', 'old'],
          ['c', 'new'],
          ['expired', 'new'],
        ]);
        expect(await importOf(t, lines)).toEqual({ written: 3, skipped: 0, failed: [] });
        expect(await importOf(t, lines, 'overwrite')).toEqual({ written: 3, skipped: 0, failed: [] });
        expect(await values()).toEqual([
          ['a', 'new'],
          ['b', 'old'],
          ['c', 'new'],
          ['expired', 'new'],
        ]);
        await expectLedgerExact(h, t.id);
      });

      it('skip_existing skips every key of a chunk that exists, and writes the others of it', async () => {
        const t = await makeTenant(h);
        const keys = keysFrom('k', 1500);
        await api(h, t)
          .batch(keys.filter((_, i) => i % 3 === 0).map((key) => ({ key, value: 'old' })))
          .expect(201);
        const report = await importOf(t, ndjson(keys.map((key) => ({ key, value: 'new' }))), 'skip_existing');
        expect(report).toEqual({ written: 1000, skipped: 500, failed: [] });
        const exported = await exportOf(t);
        expect(exported.map((l) => l.value)).toEqual(keys.map((_, i) => (i % 3 === 0 ? 'old' : 'new')));
      });

      /**
       * An import whose body comes in two parts: the first chunk and the first line of the next (that line shows
       * the first chunk is complete), then, once the first chunk is written, `meanwhile` runs and the last line
       * is sent.
       */
      async function importAround(
        t: TestTenant,
        query: string,
        meanwhile: () => Promise<unknown>,
      ): Promise<ImportReport> {
        const server = await listen(h);
        try {
          const first = keysFrom('a', 1000).map((key) => ({ key, value: 'imported' }));
          return await new Promise<ImportReport>((resolve, reject) => {
            const req = http.request(
              `${server.url}/api/import${query}`,
              { method: 'POST', headers: { ...t.auth, 'Content-Type': 'application/x-ndjson' } },
              (answer) => {
                let body = '';
                answer.setEncoding('utf8');
                answer.on('data', (chunk: string) => (body += chunk));
                answer.on('end', () => resolve(JSON.parse(body) as ImportReport));
              },
            );
            req.on('error', reject);
            req.write(ndjson([...first, { key: 'b', value: 'imported' }]));
            void (async () => {
              while ((await request(server.url).get(objectPath('a1000')).set(t.auth)).status !== 200);
              await meanwhile();
              req.end(ndjson([{ key: 'c', value: 'imported' }]));
            })().catch(reject);
          });
        } finally {
          await server.close();
        }
      }

      it('skip_existing leaves alone a key created while the import runs', async () => {
        const t = await makeTenant(h);
        // Another client creates a key the rest of the body holds.
        const report = await importAround(t, '?mode=skip_existing', () => put(t, { key: 'c', value: 'concurrent' }));
        expect(report).toEqual({ written: 1001, skipped: 1, failed: [] });
        expect((await request(h.app).get(objectPath('c')).set(t.auth).expect(200)).body.value).toBe('concurrent');
        expect((await request(h.app).get(objectPath('b')).set(t.auth).expect(200)).body.value).toBe('imported');
      });

      it('stops at the next chunk when the tenant is put in read-only mode while the import runs', async () => {
        const t = await makeTenant(h);
        const report = await importAround(t, '', () =>
          request(h.app).patch(`/api/admin/tenants/${t.id}`).set(asAdmin).send({ read_only: true }).expect(200),
        );
        expect(report).toEqual({ written: 1000, skipped: 0, failed: [], stopped: { line: 1001, code: 'READ_ONLY' } });
        expect((await request(h.app).get('/api/quota').set(t.auth).expect(200)).body.objects).toBe(1000);
      });

      it('fails the whole chunk of a bad line, and goes on with the next chunk', async () => {
        const t = await makeTenant(h, 16 * 1024 * 1024);
        const keys = keysFrom('k', 5500);
        const lines = keys.map((key) => JSON.stringify({ key, value: key }));
        const bad: [number, string, string][] = [
          [10, '{"key":"k0010","value":', 'MALFORMED_JSON'],
          [2500, JSON.stringify({ value: 1 }), 'VALIDATION_FAILED'],
          [3001, JSON.stringify({ key: 'k'.repeat(33), value: 1 }), 'VALIDATION_FAILED'],
          [4500, JSON.stringify({ key: 'k4500', value: valueOfSize(MAX_BATCH_ITEM_BYTES + 1) }), 'VALUE_TOO_LARGE'],
          [5002, JSON.stringify({ key: 'k5002', value: 1, if_absent: true }), 'VALIDATION_FAILED'],
        ];
        for (const [line, text] of bad) lines[line - 1] = text;
        const report = await importOf(t, lines.join('\n'));
        expect(report.written).toBe(1000);
        expect(report.skipped).toBe(0);
        expect(report.stopped).toBeUndefined();
        expect(report.failed.map((f) => [f.line, f.code])).toEqual(bad.map(([line, , code]) => [line, code]));
        expect(report.failed[3].message).toContain('(nothing of lines 4001–5000 was written)');
        // Only lines 1001–2000 were in a chunk without a bad line.
        expect(await storedKeys(h, t.id)).toEqual(keys.slice(1000, 2000));
        await expectLedgerExact(h, t.id);
      });

      it('cuts chunks at MAX_BATCH_BYTES of values too, and ignores blank lines', async () => {
        const t = await makeTenant(h, 16 * 1024 * 1024);
        // 2000-byte values: a chunk holds 131 of them (262000 bytes of the 262144 allowed), and any bad lines.
        const keys = keysFrom('k', 300);
        const lines = keys.map((key) => JSON.stringify({ key, value: valueOfSize(2000) }));
        lines[199] = '{"key":"k0200","value":nope}';
        const body = lines.map((line, i) => (i === 50 ? `${line}\n\n   \r` : line)).join('\r\n') + '\n\n';
        const report = await importOf(t, body);
        // Blank lines count in the line numbers: line 200 of the lines is line 202 of the body.
        expect(report).toMatchObject({ written: 168, skipped: 0, failed: [{ line: 202, code: 'MALFORMED_JSON' }] });
        expect(report.failed[0].message).toContain('(nothing of lines 134–265 was written)');
        expect(await storedKeys(h, t.id)).toEqual([...keys.slice(0, 131), ...keys.slice(263)]);
      });

      it('reads a body far over MAX_BODY_BYTES, and refuses only a line over it', async () => {
        const t = await makeTenant(h, 16 * 1024 * 1024);
        const keys = keysFrom('k', 100);
        const lines = keys.map((key) => JSON.stringify({ key, value: valueOfSize(4000) }));
        lines[49] = JSON.stringify({ key: 'k0050', value: 1, pad: 'x'.repeat(MAX_BODY_BYTES) });
        expect(lines.join('\n').length).toBeGreaterThan(5 * MAX_BODY_BYTES);
        const report = await importOf(t, lines.join('\n'));
        expect(report).toMatchObject({ written: 34, failed: [{ line: 50, code: 'PAYLOAD_TOO_LARGE' }] });
        // 4000-byte values: a chunk holds 65 of them, and the line refused.
        expect(await storedKeys(h, t.id)).toEqual(keys.slice(66));
      });

      it('lets a later line of a key replace an earlier one', async () => {
        const t = await makeTenant(h);
        const body = ndjson([
          { key: 'a', value: 1 },
          { key: 'b', value: 2 },
          { key: 'a', value: 3 },
        ]);
        expect(await importOf(t, body)).toEqual({ written: 3, skipped: 0, failed: [] });
        expect((await exportOf(t)).map((l) => [l.key, l.value])).toEqual([
          ['a', 3],
          ['b', 2],
        ]);
        await expectLedgerExact(h, t.id);
      });

      it('skips a line whose ttl has passed, and honours ttl, expires_in and metadata', async () => {
        const t = await makeTenant(h);
        const now = h.clock.freeze();
        const body = ndjson([
          { key: 'past', value: 1, ttl: now - 10, metadata: null, version: 4 },
          { key: 'ttl', value: 2, ttl: now + 100 },
          { key: 'in', value: 3, expires_in: 50, metadata: { m: 1 } },
        ]);
        expect(await importOf(t, body)).toEqual({ written: 2, skipped: 1, failed: [] });
        expect(await exportOf(t)).toEqual([
          { key: 'in', value: 3, ttl: now + 50, metadata: { m: 1 }, version: expect.any(Number) },
          { key: 'ttl', value: 2, ttl: now + 100, metadata: null, version: expect.any(Number) },
        ]);
      });

      it('stops at the chunk the quota refuses, keeping the chunks before it', async () => {
        // 20-byte values: 20000 bytes a chunk of 1000; two fit in 45000 bytes, the third does not.
        const t = await makeTenant(h, 45000);
        const keys = keysFrom('k', 3500);
        const lines = keys.map((key) => JSON.stringify({ key, value: valueOfSize(20) }));
        lines[3200] = 'not json';
        const report = await importOf(t, lines.join('\n'));
        expect(report).toEqual({
          written: 2000,
          skipped: 0,
          failed: [],
          stopped: { line: 2001, code: 'QUOTA_EXCEEDED' },
        });
        expect(await storedKeys(h, t.id)).toEqual(keys.slice(0, 2000));
        expect(await expectLedgerExact(h, t.id)).toMatchObject({ utilised: 40000 });
      });

      it('is refused as a write for a read-only tenant', async () => {
        const t = await makeTenant(h);
        await request(h.app).patch(`/api/admin/tenants/${t.id}`).set(asAdmin).send({ read_only: true }).expect(200);
        expectError(await importBody(t, ndjson([{ key: 'a', value: 1 }])), 403, 'READ_ONLY');
        expect(await exportOf(t)).toEqual([]);
        expect(await storedKeys(h, t.id)).toEqual([]);
      });

      it('answers an empty body with nothing written', async () => {
        const t = await makeTenant(h);
        expect(await importOf(t, '')).toEqual({ written: 0, skipped: 0, failed: [] });
        expect(await importOf(t, '\n \n')).toEqual({ written: 0, skipped: 0, failed: [] });
      });

      it('refuses without a token, with a read-only token, and bodies it does not read', async () => {
        const t = await makeTenant(h);
        const body = ndjson([{ key: 'a', value: 1 }]);
        expectError(await importBody({}, body), 401, 'UNAUTHORIZED');
        const { token } = h.tokens.issue({ tenantId: t.id, scopes: ['read'], tokenVersion: 0 }, h.clock.nowSeconds());
        expectError(await importBody({ Authorization: `Bearer ${token}` }, body), 403, 'INSUFFICIENT_SCOPE');
        expectError(await importBody(t, body, 'merge'), 400, 'VALIDATION_FAILED', 'mode');
        expectError(
          await request(h.app).post('/api/import').set(t.auth).set('Content-Type', 'application/json').send(body),
          415,
          'UNSUPPORTED_MEDIA_TYPE',
        );
        expectError(
          await request(h.app)
            .post('/api/import')
            .set(t.auth)
            .set('Content-Type', 'application/x-ndjson; charset=latin1')
            .send(body),
          415,
          'UNSUPPORTED_CHARSET',
        );
        expectError(
          await request(h.app)
            .post('/api/import')
            .set(t.auth)
            .set('Content-Type', 'application/x-ndjson')
            .set('Content-Encoding', 'gzip')
            .send(body),
          415,
          'UNSUPPORTED_ENCODING',
        );
        expect(await storedKeys(h, t.id)).toEqual([]);
        expect(await importOf(t, body)).toMatchObject({ written: 1 });
      });
    });
  },
  {
    env: {
      ADMIN_API_KEYS: ADMIN_KEY,
      MAX_BATCH_BYTES: String(MAX_BATCH_BYTES),
      MAX_BATCH_ITEM_BYTES: String(MAX_BATCH_ITEM_BYTES),
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
    },
  },
);
