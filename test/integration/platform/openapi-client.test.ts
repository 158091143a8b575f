import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { API_TYPES_PATH, renderApiTypes } from '../../../scripts/api-types';
import { describeTargets, expectError, listen, request, uniqueName } from '../../support/harness';
import { walkThrough } from '../../support/typed-client/client';

/**
 * Generated clients get real types from swagger.yaml. The types (packages/client/src/api.ts, which
 * @tenantkv/client and test/support/typed-client share) are checked in, so that `make lint` type-checks the typed
 * clients too; the first test checks that they are what openapi-typescript generates from swagger.yaml now
 * (`make generate` rewrites them).
 */
const CLIENT_DIR = path.join(__dirname, '../../support/typed-client');

describe('types generated from swagger.yaml by openapi-typescript', () => {
  it('are in step with swagger.yaml (run `make generate` after changing it)', () => {
    expect(fs.readFileSync(API_TYPES_PATH, 'utf8')).toBe(renderApiTypes());
  });

  /** Type-checks each snippet, as its own file next to the client, with strict on; returns each file's errors. */
  function typeCheck(snippets: Record<string, string>): Record<string, string[]> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantkv-typed-client-'));
    try {
      const files = Object.entries(snippets).map(([name, code]) => {
        const file = path.join(dir, `${name}.ts`);
        const from = path.relative(dir, path.join(CLIENT_DIR, 'client')).replace(/\\/g, '/');
        fs.writeFileSync(
          file,
          `import type * as api from '${from}';\nimport { TenantKvClient } from '${from}';\n${code}\n`,
        );
        return [name, file] as const;
      });
      const program = ts.createProgram(
        files.map(([, file]) => file),
        {
          strict: true,
          noEmit: true,
          target: ts.ScriptTarget.ES2023,
          lib: ['lib.es2023.d.ts'],
          module: ts.ModuleKind.CommonJS,
          moduleResolution: ts.ModuleResolutionKind.Node10,
          types: ['node'],
          typeRoots: [path.join(__dirname, '../../../node_modules/@types')],
          skipLibCheck: true,
        },
      );
      const byFile = Object.fromEntries(files.map(([name]) => [name, [] as string[]]));
      for (const d of ts.getPreEmitDiagnostics(program)) {
        const entry = files.find(([, file]) => d.file && path.resolve(d.file.fileName) === file);
        const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        if (entry) byFile[entry[0]].push(text);
        else throw new Error(`a type error outside the snippets: ${d.file?.fileName ?? ''} ${text}`);
      }
      return byFile;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  it('type-check a correct client, and refuse typos in field names, types and scopes', () => {
    const errors = typeCheck({
      correct: `
        export async function run(client: TenantKvClient): Promise<number> {
          await client.register({ user_name: 'ada', password: 'pw', provisioned_capacity: 100 });
          await client.register({ name: 'bob', password: 'pw', provisionedCapacity: 100 });
          await client.login({ name: 'bob', password: 'pw' });
          await client.put({ key: 'k', value: { any: ['json', 1, null] }, ttl: 0 });
          await client.batch([{ key: 'a', value: 1 }]);
          const token: api.CreateTokenBody = { scopes: ['read', 'write'], expires_in: 60 };
          void token;
          const quota = await client.quota();
          return quota.provisioned - quota.utilised;
        }`,
      userNameTypo: `export const r = (c: TenantKvClient) => c.register({ usr_name: 'ada', password: 'pw' });`,
      loginWithoutName: `export const r = (c: TenantKvClient) => c.login({ password: 'pw' });`,
      capacityAsString: `export const r = (c: TenantKvClient) => c.register({ user_name: 'a', password: 'pw', provisioned_capacity: '100' });`,
      objectWithoutKey: `export const r = (c: TenantKvClient) => c.put({ value: 1 });`,
      unknownScope: `export const t: api.CreateTokenBody = { scopes: ['reed'] };`,
      quotaTypo: `export const r = async (c: TenantKvClient) => (await c.quota()).utilized;`,
    });
    expect(errors.correct).toEqual([]);
    for (const [name, messages] of Object.entries(errors)) {
      if (name !== 'correct') expect({ name, failed: messages.length > 0 }).toEqual({ name, failed: true });
    }
    expect(errors.userNameTypo.join('\n')).toMatch(/usr_name/);
    expect(errors.unknownScope.join('\n')).toMatch(/reed/);
    expect(errors.quotaTypo.join('\n')).toMatch(/utilized/);
  });
});

const ADMIN_KEY = 'typed-client-admin-key-0123456789';

describeTargets(
  'the typed client against the app',
  (h) => {
    let server: Awaited<ReturnType<typeof listen>>;
    beforeAll(async () => {
      server = await listen(h);
    });
    afterAll(async () => {
      await server.close();
    });

    it('registers, logs in, writes, reads, batches and reads the quota', async () => {
      const name = uniqueName('typed');
      const result = await walkThrough(server.url, name);
      expect(result.registered).toEqual({ id: expect.any(Number), user_name: name, provisioned_capacity: 1000 });
      expect(result.login).toEqual({ token: expect.any(String), expires_at: expect.any(String) });
      expect(result.read).toMatchObject({ key: 'user:42', value: { name: 'Ada', langs: ['en', 'fr'] }, ttl: 0 });
      // 34 bytes for the object, 1 for "a", 15 for {"nested":true}.
      expect(result.quota).toMatchObject({ provisioned: 1000, utilised: 50 });
    });

    describe('the request schemas keep the old aliases and name the field in their errors', () => {
      const register = (body: object) => request(h.app).post('/api/auth/register').send(body);
      const login = (body: object) => request(h.app).post('/api/auth/login').send(body);

      it('accepts name and provisionedCapacity, and uses user_name when both spellings are sent', async () => {
        const alias = uniqueName('alias');
        expect(
          (await register({ name: alias, password: 'pw', provisionedCapacity: 5 }).expect(201)).body,
        ).toMatchObject({
          user_name: alias,
          provisioned_capacity: 5,
        });
        await login({ name: alias, password: 'pw' }).expect(200);
        const both = uniqueName('both');
        const res = await register({ user_name: both, name: 'ignored', password: 'pw' }).expect(201);
        expect(res.body.user_name).toBe(both);
      });

      it.each<[string, object, string]>([
        ['neither user_name nor name', { password: 'pw' }, 'user_name: is required'],
        ['no password', { user_name: 'someone' }, 'password: is required'],
        ['a numeric name', { name: 42, password: 'pw' }, 'name: must be string'],
        ['an empty user_name', { user_name: '', password: 'pw' }, 'user_name: must NOT have fewer than 1 characters'],
        ['a string alias capacity', { name: 'x', password: 'pw', provisionedCapacity: '5' }, 'provisionedCapacity:'],
      ])('register refuses %s with a message naming the field', async (_what, body, message) => {
        expectError(await register(body), 400, 'VALIDATION_FAILED', message);
      });

      it('login refuses a body with neither user_name nor name', async () => {
        expectError(await login({ password: 'pw' }), 400, 'VALIDATION_FAILED', 'user_name: is required');
      });

      it('token scopes: ["read"] and ["read","write"] in any order; ["write"] alone and others refused', async () => {
        const admin = { Authorization: `Bearer ${ADMIN_KEY}` };
        const tenant = await request(h.app)
          .post('/api/admin/tenants')
          .set(admin)
          .send({ user_name: uniqueName('scopes'), provisioned_capacity: 10 })
          .expect(201);
        const create = (scopes: unknown) =>
          request(h.app).post(`/api/admin/tenants/${tenant.body.id}/tokens`).set(admin).send({ scopes });
        expect((await create(['read']).expect(201)).body.scopes).toEqual(['read']);
        expect((await create(['write', 'read']).expect(201)).body.scopes).toEqual(['read', 'write']);
        expectError(await create(['write']), 400, 'VALIDATION_FAILED', 'scopes: is not allowed');
        expectError(await create(['read', 'read']), 400, 'VALIDATION_FAILED', 'scopes:');
        expectError(await create(['admin']), 400, 'VALIDATION_FAILED', 'scopes.0:');
        expectError(await create([]), 400, 'VALIDATION_FAILED', 'scopes:');
      });
    });
  },
  { env: { ADMIN_API_KEYS: ADMIN_KEY } },
);
