import fs from 'node:fs';
import path from 'node:path';
import { uniqueName } from '../../support/harness';
import type { ServiceProcess } from '../../support/service-process';
import { targets } from '../../support/targets';
import { ADMIN_KEY, serviceEnv, startService } from '../../support/tenantkv-service';
import { buildCli, Cli } from './cli';

/**
 * `tenantkv admin …` as an operator runs it: the built bin as a real process against the real service on each
 * database, the admin key from TENANTKV_ADMIN_KEY or --admin-key, checked through the tenant's own commands too.
 */
const PASSWORD = 'cli test password';

interface TenantJson {
  id: number;
  user_name: string;
  provisioned: number;
  suspended: boolean;
  read_only: boolean;
  history_depth: number;
  rate_limit_rps: number | null;
  rate_limit_burst: number | null;
}

beforeAll(buildCli);

describe.each(targets())('tenantkv admin against the service on %s', (target) => {
  let service: ServiceProcess;
  let url: string;
  let admin: Cli;
  const clis: Cli[] = [];

  beforeAll(async () => {
    ({ service, url } = await startService(serviceEnv(target)));
    admin = new Cli({ TENANTKV_URL: url, TENANTKV_ADMIN_KEY: ADMIN_KEY });
    clis.push(admin);
  });
  afterAll(async () => {
    for (const cli of clis) cli.cleanup();
    await service?.stop();
  });

  const tenantCli = (env: Record<string, string> = {}): Cli => {
    const cli = new Cli({ TENANTKV_URL: url, ...env });
    clis.push(cli);
    return cli;
  };
  const tenant = async (...args: string[]): Promise<TenantJson> => {
    // The password, for the commands given --password-stdin.
    const [t] = await admin.json<TenantJson>(['admin', 'tenants', ...args, '--json'], { input: PASSWORD });
    return t;
  };

  it('creates a tenant with --quota 10MiB, gets it by id or name, lists it, and refuses a name taken', async () => {
    const name = uniqueName('cli');
    const created = await tenant('create', name, '--quota', '10MiB', '--password-stdin', '--history-depth', '2');
    expect(created).toMatchObject({
      user_name: name,
      provisioned: 10 * 1024 * 1024,
      history_depth: 2,
      suspended: false,
    });
    expect(await tenant('get', String(created.id))).toEqual(created);
    expect(await tenant('get', name)).toEqual(created);

    const table = await admin.ok(['admin', 'tenants', 'get', name]);
    expect(table).toMatch(
      new RegExp(`^id +${created.id}\\nuser_name +${name}\\nstate +active\\nquota +10 MiB \\(10485760 bytes\\)\\n`),
    );
    const listed = await admin.json<TenantJson>(['admin', 'tenants', 'ls', '--prefix', name, '--json']);
    expect(listed).toEqual([created]);
    const lines = (await admin.ok(['admin', 'tenants', 'ls', '--prefix', name])).split('\n');
    expect(lines[0]).toMatch(/^\s*ID\s+USER_NAME\s+QUOTA\s+UTILISED\s+OBJECTS\s+STATE$/);
    expect(lines[1]).toMatch(new RegExp(`^\\s*${created.id}\\s+${name}\\s+10 MiB\\s+0 B\\s+0\\s+active$`));

    const taken = await admin.run(['admin', 'tenants', 'create', name, '--quota', '1MiB']);
    expect([taken.code, taken.stderr]).toEqual([1, 'error: user already exists (USER_EXISTS)\n']);
    const noQuota = await admin.run(['admin', 'tenants', 'create', uniqueName('cli')]);
    expect([noQuota.code, noQuota.stderr]).toEqual([1, 'error: --quota is required (e.g. --quota 10GiB)\n']);
    const badQuota = await admin.run(['admin', 'tenants', 'create', uniqueName('cli'), '--quota', '10XB']);
    expect(badQuota.code).toBe(1);
    expect(badQuota.stderr).toMatch(/--quota <size>' argument '10XB' is invalid/);
    const unknown = await admin.run(['admin', 'tenants', 'get', uniqueName('nobody')]);
    expect(unknown.code).toBe(2);
    expect((await admin.run(['admin', 'tenants', 'get', '999999999'])).stderr).toBe(
      'error: tenant not found (TENANT_NOT_FOUND)\n',
    );
  });

  it('sets quotas in SI and IEC units, the history depth, rate limits, read-only mode and the password', async () => {
    const name = uniqueName('cli');
    const { id } = await tenant('create', name, '--quota', '1MiB', '--password-stdin');
    const set = (...args: string[]) => tenant('set', name, ...args);
    expect((await set('--quota', '1.5KiB')).provisioned).toBe(1536);
    expect((await set('--quota', '500MB')).provisioned).toBe(500_000_000);
    expect((await set('--quota', '4096')).provisioned).toBe(4096);
    expect((await set('--history-depth', '3')).history_depth).toBe(3);
    expect(await set('--rate-limit-rps', '50', '--rate-limit-burst', '100')).toMatchObject({
      rate_limit_rps: 50,
      rate_limit_burst: 100,
    });
    expect(await set('--rate-limit-rps', 'default', '--rate-limit-burst', 'default')).toMatchObject({
      rate_limit_rps: null,
      rate_limit_burst: null,
    });

    await admin.ok(['admin', 'tenants', 'set', String(id), '--password-stdin'], { input: 'a new password\n' });
    const cli = tenantCli();
    expect((await cli.run(['login', name, '--password-stdin'], { input: PASSWORD })).code).toBe(5);
    await cli.ok(['login', name, '--password-stdin'], { input: 'a new password\n' });
    await cli.ok(['kv', 'put', 'k', '1']);

    expect((await set('--read-only')).read_only).toBe(true);
    const refused = await cli.run(['kv', 'put', 'k', '2']);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/\(READ_ONLY\)\n$/);
    expect(await cli.ok(['kv', 'get', 'k'])).toBe('1\n');
    expect((await set('--no-read-only')).read_only).toBe(false);
    await cli.ok(['kv', 'put', 'k', '2']);

    const nothing = await admin.run(['admin', 'tenants', 'set', name]);
    expect([nothing.code, nothing.stderr]).toEqual([1, 'error: nothing to change: give at least one option\n']);
  });

  it('suspends and resumes a tenant, whose API token works again on resume; issues, lists and revokes tokens', async () => {
    const name = uniqueName('cli');
    await tenant('create', name, '--quota', '1MiB');
    const [reader] = await admin.json<{ id: string; token: string; scopes: string[]; expires_at: string | null }>([
      'admin',
      'tokens',
      'create',
      name,
      '--scopes',
      'read',
      '--name',
      'reporting',
      '--expires-in',
      '30d',
      '--json',
    ]);
    expect(reader).toMatchObject({
      id: expect.stringMatching(/^tok_/),
      scopes: ['read'],
      expires_at: expect.any(String),
    });
    const writerToken = (await admin.ok(['admin', 'tokens', 'create', name])).trim();
    const writer = tenantCli({ TENANTKV_TOKEN: writerToken });
    const readOnly = tenantCli({ TENANTKV_TOKEN: reader.token });
    await writer.ok(['kv', 'put', 'k', '"v"']);
    expect(await readOnly.ok(['kv', 'get', 'k'])).toBe('"v"\n');
    const scope = await readOnly.run(['kv', 'put', 'k', '"w"']);
    expect([scope.code, scope.stderr]).toEqual([
      5,
      'error: this token does not have the write scope (INSUFFICIENT_SCOPE)\n',
    ]);

    expect((await tenant('suspend', name)).suspended).toBe(true);
    const suspended = await writer.run(['kv', 'get', 'k']);
    expect([suspended.code, suspended.stderr]).toEqual([5, 'error: tenant suspended (TENANT_SUSPENDED)\n']);
    expect((await tenant('resume', name)).suspended).toBe(false);
    expect(await writer.ok(['kv', 'get', 'k'])).toBe('"v"\n');

    const tokens = await admin.json<{ id: string; name: string | null; scopes: string[] }>([
      'admin',
      'tokens',
      'ls',
      name,
      '--json',
    ]);
    expect(tokens.map((t) => [t.name, t.scopes])).toEqual([
      [null, ['read', 'write']],
      ['reporting', ['read']],
    ]);
    const table = (await admin.ok(['admin', 'tokens', 'ls', name])).split('\n');
    expect(table[0]).toMatch(/^ID\s+NAME\s+SCOPES\s+CREATED_AT\s+EXPIRES_AT$/);
    expect(table[2]).toMatch(new RegExp(`^${reader.id}\\s+reporting\\s+read\\s+\\S+\\s+${reader.expires_at}$`));

    expect(await admin.ok(['admin', 'tokens', 'revoke', name, reader.id])).toBe('');
    const revoked = await readOnly.run(['kv', 'get', 'k']);
    expect(revoked.code).toBe(5);
    const again = await admin.run(['admin', 'tokens', 'revoke', name, reader.id]);
    expect([again.code, again.stderr]).toEqual([2, 'error: token not found (TOKEN_NOT_FOUND)\n']);
  });

  it("exports any tenant's objects, and deletes a tenant only with --yes", async () => {
    const name = uniqueName('cli');
    const { id } = await tenant('create', name, '--quota', '1MiB');
    const token = (await admin.ok(['admin', 'tokens', 'create', name])).trim();
    const cli = tenantCli({ TENANTKV_TOKEN: token });
    for (const key of ['a', 'b/1', 'b/2']) await cli.ok(['kv', 'put', key, `{"k":"${key}"}`]);
    await admin.ok(['admin', 'tenants', 'suspend', name]);
    const file = path.join(admin.home, `${name}.ndjson`);
    await admin.ok(['admin', 'tenants', 'export', name, file]);
    await admin.ok(['admin', 'tenants', 'resume', name]);
    expect(fs.readFileSync(file, 'utf8')).toBe(await cli.ok(['kv', 'export']));
    expect(await admin.json(['admin', 'tenants', 'export', String(id), '--prefix', 'b/'])).toEqual([
      { key: 'b/1', value: { k: 'b/1' }, ttl: 0, metadata: null, version: expect.any(Number) },
      { key: 'b/2', value: { k: 'b/2' }, ttl: 0, metadata: null, version: expect.any(Number) },
    ]);

    const unconfirmed = await admin.run(['admin', 'tenants', 'rm', name]);
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toMatch(/add --yes/);
    expect((await admin.run(['admin', 'tenants', 'get', name])).code).toBe(0);
    expect(await admin.ok(['admin', 'tenants', 'rm', name, '--yes'])).toBe('');
    expect((await admin.run(['admin', 'tenants', 'get', String(id)])).code).toBe(2);
    expect((await cli.run(['kv', 'get', 'a'])).code).toBe(5);
  });

  it("lists the audit log's entries of what the commands did, and verifies its chain", async () => {
    const name = uniqueName('cli');
    const { id } = await tenant('create', name, '--quota', '1MiB');
    await admin.ok(['admin', 'tenants', 'set', name, '--quota', '2MiB']);
    await admin.ok(['admin', 'tenants', 'suspend', name]);

    const entries = await admin.json<{ id: number; action: string; target: string; after: unknown }>([
      'admin',
      'audit',
      'ls',
      '--json',
    ]);
    const mine = entries.filter((e) => e.target === `tenant:${id}`);
    expect(mine.map((e) => e.action)).toEqual(['tenant.create', 'tenant.quota', 'tenant.suspend']);
    expect(mine[1].after).toEqual({ provisioned_capacity: 2 * 1024 * 1024 });
    const two = await admin.json<{ id: number }>([
      'admin',
      'audit',
      'ls',
      '--since',
      String(mine[0].id - 1),
      '--limit',
      '2',
      '--json',
    ]);
    expect(two.map((e) => e.id)).toEqual([mine[0].id, mine[0].id + 1]);
    const table = (await admin.ok(['admin', 'audit', 'ls', '--since', String(mine[0].id - 1), '--limit', '1'])).split(
      '\n',
    );
    expect(table[0]).toMatch(/^\s*ID\s+AT\s+ACTION\s+TARGET\s+ACTOR\s+CHANGE$/);
    expect(table[1]).toMatch(
      new RegExp(`^\\s*${mine[0].id}\\s+\\S+Z\\s+tenant.create\\s+tenant:${id}\\s+[0-9a-f]{12}\\s+after `),
    );

    expect(await admin.ok(['admin', 'audit', 'verify'])).toMatch(/^ok: \d+ entries, the chain is intact\n$/);
    const [verdict] = await admin.json(['admin', 'audit', 'verify', '--json']);
    expect(verdict).toEqual({ ok: true, rows_checked: expect.any(Number) });
  });

  it('takes the admin key from --admin-key too, and exits 5 without one or with a wrong one', async () => {
    const keyless = tenantCli();
    expect(
      (await keyless.run(['admin', '--admin-key', ADMIN_KEY, 'tenants', 'ls', '--prefix', 'none-such'])).code,
    ).toBe(0);
    expect(
      (await keyless.run(['admin', 'tenants', 'ls', '--prefix', 'none-such', '--admin-key', ADMIN_KEY])).code,
    ).toBe(0);
    const missing = await keyless.run(['admin', 'tenants', 'ls']);
    expect([missing.code, missing.stderr]).toEqual([
      5,
      'error: no admin key: set TENANTKV_ADMIN_KEY (or pass --admin-key)\n',
    ]);
    const wrong = await keyless.run(['admin', 'tenants', 'ls'], {
      env: { TENANTKV_ADMIN_KEY: 'not-the-admin-key-at-all' },
    });
    expect([wrong.code, wrong.stderr]).toEqual([5, 'error: invalid admin key (UNAUTHORIZED)\n']);
  });
});
